"""Batch analysis on a real dask.distributed LocalCluster (two worker processes)."""

import pytest

from stridesense.batch import find_sessions, run_batch
from stridesense.cli import main
from stridesense.models.simulator import SimConfig, simulate_session, write_simulation
from stridesense.streaming.recording import write_session


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("club")
    for i, seed in enumerate((1, 2)):
        sim = simulate_session(SimConfig(seed=seed, duration_s=40, trunk_rate_hz=104.0))
        write_session(root / "ana" / f"2026-11-0{i + 1}", sim.session)
    write_simulation(simulate_session(SimConfig(seed=3, duration_s=40)), root / "ben" / "csv-run")
    corrupt = root / "ben" / "broken"
    corrupt.mkdir(parents=True)
    (corrupt / "manifest.json").write_text('{"format": "stridesense-session", "format_version": 1, "sensors": ['
                                           '{"role": "pelvis", "files": {"samples": "pelvis.samples.arrow"}}]}')
    (corrupt / "pelvis.samples.arrow").write_bytes(b"not arrow at all")
    return root


def test_finds_native_and_csv_sessions(archive):
    names = [p.name for p in find_sessions(archive)]
    assert names == ["2026-11-01", "2026-11-02", "broken", "csv-run"]


def test_batch_on_a_local_cluster_isolates_the_corrupt_session_and_caches(archive, tmp_path):
    out = tmp_path / "results.parquet"
    first = run_batch(archive, out, n_workers=2)
    assert len(first.analysed) == 3 and list(first.failed) == [str(archive / "ben" / "broken")]
    assert "not a readable sample file" in first.failed[str(archive / "ben" / "broken")]
    assert first.steps["session"].nunique() == 3 and len(first.steps) > 250
    assert (tmp_path / "results.summary.parquet").exists()
    again = run_batch(archive, out, n_workers=2)
    assert sorted(again.skipped) == sorted(first.analysed) and again.analysed == []
    assert len(again.steps) == len(first.steps)


def test_batch_command_reports_failures_in_one_line_each(archive, tmp_path, capsys):
    assert main(["batch", str(archive), "--out", str(tmp_path / "r.parquet")]) == 0
    out = capsys.readouterr().out
    assert "3 sessions analysed" in out and "failed: " in out
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.parquet")]) == 2


def test_batch_flags_a_runner_whose_weekly_running_time_rises_more_than_ten_percent(tmp_path):
    import json

    root = tmp_path / "club"
    for i, (date, duration) in enumerate((("2026-11-02T08:00:00+00:00", 40), ("2026-11-10T08:00:00+00:00", 60))):
        folder = write_session(root / f"run{i}", simulate_session(SimConfig(seed=i, duration_s=duration,
                                                                            trunk_rate_hz=None)).session)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest.update(recorded_at=date, runner="ana")  # imported today, both: the recording's date counts
        (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run_batch(root, tmp_path / "r.parquet", n_workers=1)
    assert list(result.sessions["runner"]) == ["ana", "ana"]
    flags = result.load_flags["ana"]
    assert len(flags) == 1 and flags[0].id == "weekly_running_time_s" and "2026-11-09" in flags[0].message


def _slow_on_purpose(folder, mass_kg, check_roles):
    """One session runs away (sleeps far past the limit); the others answer at once."""
    import time
    from pathlib import Path

    import pandas as pd

    if Path(folder).name == "csv-run":
        time.sleep(300)
    return pd.DataFrame({"ic_s": [1.0]}), pd.DataFrame({"n_steps": [1]})


def test_a_session_past_the_time_limit_is_stopped_and_reported_while_the_others_finish(archive, tmp_path):
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    result = run_batch(archive, tmp_path / "r.parquet", n_workers=2, time_limit_s=30.0, analyse=_slow_on_purpose)
    slow = str(archive / "ben" / "csv-run")
    assert result.timed_out == [slow] and "stopped after 30 s" in result.failed[slow]
    assert len(result.analysed) == 3 and slow not in result.analysed
