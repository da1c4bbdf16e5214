"""The session library: catalogue, step tables across sessions, rebuilding, locks, untouched session folders."""

import hashlib
import json
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent / "reports"))

from sim_sessions import make_session  # noqa: E402
from stridesense.library import META_KEY, Library, LibraryError, default_data_dir, session_id  # noqa: E402


def _digest(root: Path) -> dict:
    """Every file under root: name -> (size, sha256): to prove session folders are never touched."""
    return {str(p.relative_to(root)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sessions_root(tmp_path_factory):
    """Three sessions of ana (two of them at the same time) and one of ben, 40 s each."""
    root = tmp_path_factory.mktemp("sessions")
    make_session(root / "ana-a", seed=51, duration_s=40.0, created="2026-03-02T08:00:00+00:00")
    make_session(root / "ana-b", seed=52, duration_s=40.0, created="2026-03-02T08:00:00+00:00")
    make_session(root / "ana-c", seed=53, duration_s=45.0, created="2026-03-10T08:00:00+00:00")
    make_session(root / "ben-a", seed=54, duration_s=40.0, runner="ben", created="2026-03-03T08:00:00+00:00")
    return root


@pytest.fixture(scope="module")
def library(sessions_root, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    before = _digest(sessions_root)
    with Library(data) as lib:
        result = lib.add(sessions_root)
    assert _digest(sessions_root) == before
    return data, result


def test_add_catalogues_every_session_and_keeps_two_at_the_same_time(library, sessions_root):
    data, result = library
    assert sorted(Path(f).name for f in result.added) == ["ana-a", "ana-b", "ana-c", "ben-a"]
    assert result.failed == {}
    with Library(data) as lib:
        ana = lib.sessions("ana")
        assert list(ana["folder"].map(lambda f: Path(f).name)) == ["ana-a", "ana-b", "ana-c"]
        assert ana["started"].iloc[0] == ana["started"].iloc[1] == "2026-03-02T08:00:00+00:00"
        assert ana["session_id"].is_unique
        assert list(lib.sessions("ben")["folder"].map(lambda f: Path(f).name)) == ["ben-a"]
        assert lib.sessions("nobody").empty
        # Running time close to the simulated running (40 s minus the 6-s standing start and the first steps).
        assert ana["running_time_s"].between(25, 40).all()


def test_adding_again_skips_unchanged_sessions(library, sessions_root):
    data, _ = library
    with Library(data) as lib:
        again = lib.add(sessions_root)
    assert again.added == [] and len(again.unchanged) == 4


def test_steps_are_queried_across_sessions_from_parquet(library):
    data, _ = library
    with Library(data) as lib:
        ids = lib.sessions("ana")["session_id"].tolist()
        steps = lib.steps(ids, columns=["side", "pelvic_drop_deg", "quality"])
        per_session = {sid: len(pq.read_table(data / "steps" / f"{sid}.parquet")) for sid in ids}
    assert set(steps.columns) == {"side", "pelvic_drop_deg", "quality", "session_id"}
    assert steps.groupby("session_id").size().to_dict() == per_session
    # The known drop of the simulated sessions: 4 deg in left stance, 9 in right.
    means = steps.groupby("side")["pelvic_drop_deg"].median()
    assert abs(means["L"] - 4.0) < 1.0 and abs(means["R"] - 9.0) < 1.0


def test_a_step_table_with_extra_columns_is_read_with_the_others(library, tmp_path):
    data, _ = library
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(data, copy)
    with Library(copy) as lib:
        sid = lib.sessions("ben")["session_id"].iloc[0]
        path = copy / "steps" / f"{sid}.parquet"
        table = pq.read_table(path)
        table = table.append_column("new_metric", pa.array([1.5] * len(table)))
        pq.write_table(table, path)
        steps = lib.steps()
    assert "new_metric" in steps
    assert steps.loc[steps["session_id"] == sid, "new_metric"].eq(1.5).all()
    assert steps.loc[steps["session_id"] != sid, "new_metric"].isna().all()


def test_a_corrupt_catalogue_is_set_aside_and_rebuilt_from_the_step_tables(library, tmp_path):
    data, _ = library
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    with Library(copy) as lib:
        before = lib.sessions()
    (copy / "catalogue.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(UserWarning, match="not a readable catalogue"):
        lib = Library(copy)
    with lib:
        after = lib.sessions()
        assert any("rebuilt from 4 step table" in n for n in lib.notes)
    pd.testing.assert_frame_equal(before.drop(columns="added"), after.drop(columns="added"))
    assert len(list(copy.glob("catalogue.sqlite.corrupt-*"))) == 1


def test_a_lost_catalogue_is_rebuilt_when_the_library_opens(library, tmp_path):
    data, _ = library
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    (copy / "catalogue.sqlite").unlink()
    with Library(copy) as lib:
        assert len(lib.sessions()) == 4
        meta = json.loads(pq.read_schema(next((copy / "steps").glob("*.parquet"))).metadata[META_KEY])
        assert lib.summary(meta["session_id"])["n_steps"] == meta["n_steps"]


def test_a_locked_catalogue_gives_a_clear_error(library, tmp_path):
    data, _ = library
    holder = sqlite3.connect(data / "catalogue.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LibraryError, match="locked by another stridesense process"):
            Library(data, lock_timeout_s=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Library(data) as lib:  # and it opens again once the other process is done
        assert len(lib.sessions()) == 4


def test_a_session_that_fails_is_reported_and_the_others_are_added(tmp_path, library, sessions_root):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(sessions_root / "ben-a", root / "good")
    (root / "broken").mkdir()
    (root / "broken" / "manifest.json").write_text("{not json")
    with Library(tmp_path / "data") as lib:
        result = lib.add(root)
        assert [Path(f).name for f in result.added] == ["good"]
        assert list(result.failed) == [str(root / "broken")]
        assert "corrupt" in result.failed[str(root / "broken")]
        assert len(lib.sessions()) == 1


def test_data_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STRIDESENSE_DATA", str(tmp_path / "lib"))
    assert default_data_dir() == tmp_path / "lib"
    monkeypatch.delenv("STRIDESENSE_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "stridesense"


def test_session_ids_differ_for_different_folders_and_repeat_for_the_same(tmp_path):
    assert session_id(tmp_path / "a") != session_id(tmp_path / "b")
    assert session_id(tmp_path / "a") == session_id(str(tmp_path / "x" / ".." / "a"))
