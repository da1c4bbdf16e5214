import subprocess
import sys

import pandas as pd
import pytest

from stridesense.cli import main


def test_demo_analyses_the_bundled_session_and_writes_the_table(tmp_path, capsys):
    out = tmp_path / "steps.csv"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "steps" in text and "ground truth" in text
    steps = pd.read_csv(out)
    assert len(steps) > 300 and {"pelvic_drop_deg", "trunk_lean_deg", "peak_vgrf_bw"} <= set(steps.columns)


def test_simulate_then_analyze_round_trip_writes_parquet(tmp_path, capsys):
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(sim_dir), "--seed", "3", "--duration-s", "45"]) == 0
    out = tmp_path / "steps.parquet"
    code = main(["analyze", "--pelvis", str(sim_dir / "pelvis.csv"), "--trunk", str(sim_dir / "trunk.csv"),
                 "--mass-kg", "70", "--out", str(out)])
    assert code == 0
    steps = pd.read_parquet(out)
    truth = pd.read_csv(sim_dir / "truth_steps.csv")
    assert abs(len(steps) - len(truth)) <= 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "--pelvis", "/nonexistent/p.csv"], "file not found"),
        (["analyze"], "nothing to analyse"),
        (["analyze", "--pelvis", "x.csv", "--out", "steps.xlsx"], ".csv or .parquet"),
        (["simulate", "OUT", "--duration-s", "5"], "at least 30"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_no_running_in_the_file_is_a_clear_error(tmp_path, capsys):
    lines = ["time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"]
    lines += [f"{i / 100:.2f},0.01,0.02,9.81,0.001,0.0,0.0" for i in range(6000)]
    (tmp_path / "still.csv").write_text("\n".join(lines))
    assert main(["analyze", "--pelvis", str(tmp_path / "still.csv")]) == 2
    err = capsys.readouterr().err
    assert "still.csv" in err and "Traceback" not in err


def test_command_line_entry_point_runs_as_a_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "stridesense", "analyze", "--pelvis", str(tmp_path / "missing.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "missing.csv" in r.stderr


def test_analyze_as_a_process_ends_with_its_output_and_table_complete(tmp_path, capsys):
    # `analyze` ends with os._exit, skipping the interpreter's teardown: what it
    # printed and wrote must be whole all the same.
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(sim_dir), "--seed", "4", "--duration-s", "40", "--native"]) == 0
    a, b = tmp_path / "process.csv", tmp_path / "in_process.csv"
    r = subprocess.run([sys.executable, "-m", "stridesense", "analyze", str(sim_dir / "session"), "--out", str(a)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\n", "").rstrip().endswith(str(a))  # the last line printed (rich wraps it)
    assert main(["analyze", str(sim_dir / "session"), "--out", str(b), "--quiet"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_a_native_session_folder_gives_the_same_table_as_its_csvs(tmp_path, capsys):
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(sim_dir), "--seed", "5", "--duration-s", "40", "--native"]) == 0
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["analyze", str(sim_dir / "session"), "--out", str(a), "--quiet"]) == 0
    assert main(["analyze", "--pelvis", str(sim_dir / "pelvis.csv"), "--trunk", str(sim_dir / "trunk.csv"),
                 "--out", str(b), "--quiet"]) == 0
    ta, tb = pd.read_csv(a), pd.read_csv(b)
    assert len(ta) == len(tb) > 60
    # CSV keeps 6 decimals; the native file keeps every bit.
    assert (ta["side"] == tb["side"]).all()
    assert (ta["ic_s"] - tb["ic_s"]).abs().max() < 1e-3


def test_analyze_a_folder_that_is_not_a_session_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a stridesense session" in err and len(err.strip().splitlines()) == 1


def test_without_standing_the_warning_comes_before_the_results_and_no_lean_flag(tmp_path, capsys, sim_short):
    from stridesense.cli import main
    from stridesense.streaming.generic_csv import write_sensor_csv

    s = sim_short.session
    p = write_sensor_csv(s.pelvis.slice_time(8, 75), tmp_path / "pelvis.csv")
    t = write_sensor_csv(s.trunk.slice_time(8, 75), tmp_path / "trunk.csv")
    assert main(["analyze", "--pelvis", str(p), "--trunk", str(t), "--out", str(tmp_path / "s.csv")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "no standing calibration" in out
    assert out.index("no standing calibration") < out.index("steps (")
    assert "outside 8-10 deg" not in out  # lean is relative to the running posture: no guideline to judge it
