"""`stridesense report`, `library add/list/rebuild`, `compare` and `trends` as a coach types them."""

import shutil
import sys
from pathlib import Path

import pytest

from stridesense.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))

from sim_sessions import make_session  # noqa: E402


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """sessions/ with two of ana's runs, a week apart, the second longer."""
    root = tmp_path_factory.mktemp("club") / "sessions"
    make_session(root / "ana-1", seed=61, duration_s=40.0, created="2026-05-04T07:00:00+00:00")
    make_session(root / "ana-2", seed=62, duration_s=60.0, created="2026-05-12T07:00:00+00:00")
    return root


def test_the_issue_commands_write_their_pages(sessions, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRIDESENSE_DATA", str(tmp_path / "data"))
    shutil.copytree(sessions, tmp_path / "sessions")
    assert main(["report", "sessions/ana-1", "-o", "report.html"]) == 0
    assert main(["library", "add", "sessions/"]) == 0
    assert "2 added or updated, 0 unchanged, 0 failed" in capsys.readouterr().out
    assert main(["library", "list", "--runner", "ana"]) == 0
    listing = capsys.readouterr().out
    assert "2 session(s)" in listing and "2026-05-04 07:00" in listing and "2026-05-12 07:00" in listing
    assert main(["compare", "sessions/ana-1", "sessions/ana-2", "-o", "compare.html"]) == 0
    assert main(["trends", "--runner", "ana", "-o", "ana-trends.html"]) == 0
    for name in ("report.html", "compare.html", "ana-trends.html"):
        text = (tmp_path / name).read_text()
        assert text.startswith("<!DOCTYPE html>") and "ss-fig" in text
    # The second week's running time is about 1.6x the first's: the 10 % rule flags it.
    trends = (tmp_path / "ana-trends.html").read_text()
    assert "week of 2026-05-11: running time up" in trends


def test_library_data_folder_option_and_rebuild(sessions, tmp_path, capsys):
    data = tmp_path / "lib"
    assert main(["library", "add", str(sessions / "ana-1"), "--data", str(data)]) == 0
    (data / "catalogue.sqlite").unlink()
    assert main(["library", "rebuild", "--data", str(data)]) == 0
    assert "rebuilt from 1 step table" in capsys.readouterr().out
    assert main(["library", "list", "--data", str(data)]) == 0
    assert "1 session(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "/nonexistent/session", "-o", "r.html"], "no such session folder"),
        (["report", "SESSIONS/ana-1", "-o", "r.pdf"], "must name an .html file"),
        (["compare", "SESSIONS/ana-1", "SESSIONS/ana-2", "--align", "distance", "-o", "c.html"],
         "cannot align by distance"),
        (["trends", "--runner", "zoe", "-o", "t.html", "--data", "DATA"], "no sessions of runner 'zoe'"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(argv, message, sessions, tmp_path, capsys):
    argv = [a.replace("SESSIONS", str(sessions)).replace("DATA", str(tmp_path / "data")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
