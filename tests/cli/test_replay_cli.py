import json
import pandas as pd
import pytest

from accuracy_cases import without_start
from stridesense.cli import main
from stridesense.streaming.replay import replay_chunks


def test_replay_gives_the_offline_table(tmp_path, capsys):
    sample = "recordings/sample"
    off, rep = tmp_path / "off.csv", tmp_path / "rep.csv"
    assert main(["analyze", "--pelvis", f"{sample}/pelvis.csv", "--trunk", f"{sample}/trunk.csv", "--out", str(off),
                 "--quiet"]) == 0
    assert main(["replay", "--pelvis", f"{sample}/pelvis.csv", "--trunk", f"{sample}/trunk.csv", "--speed", "max",
                 "--out", str(rep)]) == 0
    a, b = pd.read_csv(off), pd.read_csv(rep)
    assert len(a) == len(b) > 300
    # Offline, neutral comes from a first pass over the whole recording; in a replay (as live) from the
    # data up to the calibration: the values differ in the last digits (tests/streaming/test_live.py).
    for column in ("side", "quality", "bout", "neutral"):
        assert (a[column] == b[column]).all(), column
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=0.05, rtol=0)


def test_replay_paces_itself_at_the_requested_speed(sim_short):
    now = [0.0]

    def sleep(dt):
        now[0] += dt

    chunks = list(replay_chunks(sim_short.session, chunk_s=0.5, speed=10.0, sleep=sleep, clock=lambda: now[0]))
    assert len(chunks) >= 140
    assert now[0] == pytest.approx(75 / 10, abs=0.2)  # duration / speed


def test_replay_streams_its_cues_as_json_lines_on_stdout(tmp_path, capsys):
    rules = tmp_path / "cues.toml"
    rules.write_text('warmup_steps = 5\n[rule.cadence]\nmetric = "cadence_spm"\nlow = 200\n'
                     'text_low = "quicker, shorter steps"\n')
    sample = "recordings/sample"
    assert main(["replay", "--pelvis", f"{sample}/pelvis.csv", "--speed", "max", "--cues", str(rules),
                 "--cue-stream", "-"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    lines = [c for c in lines if c["rule"] == "cadence"]  # the file adds to the default rules
    assert len(lines) >= 2 and all(c["metric"] == "cadence_spm" and c["value"] < 200 for c in lines)
    assert all(b["time_s"] - a["time_s"] >= 60 for a, b in zip(lines, lines[1:]))


def test_a_cue_file_with_an_error_is_refused_with_its_line_before_anything_starts(tmp_path, capsys):
    rules = tmp_path / "cues.toml"
    rules.write_text('[rule.lean]\nmetric = "trunk_angle"\nlow = 8\ntext_low = "lean"\n')
    assert main(["live", "--pelvis", "AA:BB:CC:DD:EE:FF", "--cues", str(rules), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{rules}: line 2: rule.lean: unknown metric 'trunk_angle'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [rules]  # nothing was connected or created


def test_replay_of_a_cut_off_session_plays_what_is_readable_and_says_where_it_stopped(sim_short, tmp_path, capsys):
    from stridesense.streaming.recording import SessionWriter

    folder = tmp_path / "session"
    s = sim_short.session  # 75 s, written a second at a time as a recorder does
    roles = [{"role": "pelvis", "has_gyro": True}, {"role": "trunk", "has_gyro": True}]
    with SessionWriter(folder, sensors=roles) as w:
        for t in range(76):
            w.append("pelvis", s.pelvis.slice_time(t, t + 1))
            w.append("trunk", s.trunk.slice_time(t, t + 1))
    pelvis = folder / "pelvis.samples.arrow"
    data = pelvis.read_bytes()
    pelvis.write_bytes(data[: int(len(data) * 0.7)])  # the recorder was killed mid-write
    capsys.readouterr()
    assert main(["replay", str(folder), "--speed", "max", "--no-cues"]) == 0
    out = capsys.readouterr().out
    assert "the session is cut short" in out and "pelvis.samples.arrow" in out
    stopped = float(out.split("replayed up to pelvis ")[1].split(" s")[0])
    assert 48 < stopped < 56  # 70 % of a 75-s file
    assert int(out.split(" steps,")[0].split()[-1]) > 20


def test_replay_of_a_run_without_standing_says_running_posture_and_gives_no_lean_or_drop_cue(tmp_path, capsys):
    # The outside simulator's session 1 with its 8 s of standing and 2 s of setting off cut away: the runner
    # leans 9 deg forward, which relative to the running posture reads near 0 -- a "lean forward" cue would
    # be wrong.  The cadence rule (below 200 steps/min: always out) shows that cues still flow.
    from pathlib import Path

    src = Path(__file__).resolve().parents[3] / "shared" / "data" / "sim-external" / "session1"
    if not src.exists():
        pytest.skip("../shared/data not here")
    paths = without_start(src, tmp_path, 10.0)
    rules = tmp_path / "cues.toml"
    rules.write_text('[rule.cadence]\nmetric = "cadence_spm"\nlow = 200\ntext_low = "quicker, shorter steps"\n')
    out = tmp_path / "steps.csv"
    assert main(["replay", "--pelvis", str(paths["pelvis"]), "--trunk", str(paths["trunk"]), "--speed", "max",
                 "--cues", str(rules), "--cue-stream", "-", "--out", str(out)]) == 0
    cues = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    steps = pd.read_csv(out)
    assert len(steps) > 300 and (steps["neutral"] == "running_posture").all()
    assert abs(steps["trunk_lean_deg"].median()) < 2.0  # truth: 9 deg from standing
    assert cues and {c["rule"] for c in cues} == {"cadence"}
