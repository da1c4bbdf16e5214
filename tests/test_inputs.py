"""Every way in (analyze, import, record, the Python API) gets the same checks and an answer."""

import json

import numpy as np
import pandas as pd
import pytest

from stridesense.api import analyze
from stridesense.cli import main
from stridesense.errors import InputError
from stridesense.imu.data import MAX_MISSING_S, SensorData, check_mass_kg
from stridesense.streaming.generic_csv import write_sensor_csv
from stridesense.streaming.recording import SessionWriter

PHONE_EPOCH_S = 1781128800.022


def _running_like(n, fs=100.0, t0=0.0):
    t = t0 + np.arange(n) / fs
    acc = np.tile([0.0, 0.0, 9.81], (n, 1)) + np.random.default_rng(0).normal(0, 0.05, (n, 3))
    return SensorData(t, acc, np.zeros((n, 3)), "pelvis", source="p.csv")


def test_a_clock_that_jumps_by_years_is_refused_naming_the_jump():
    d = _running_like(6000)
    t = d.time_s.copy()
    t[3000:] += PHONE_EPOCH_S  # half the samples on a phone's epoch clock
    with pytest.raises(InputError, match=r"clock jumps by 1781128800 s at sample 3000.*split the file"):
        SensorData(t, d.acc_mps2, d.gyr_radps, "pelvis").validate()


def test_work_is_bounded_by_the_samples_the_span_may_exceed_them_by_15_minutes_or_twice():
    # The bound: the uniform grid the analysis lays over a sensor's span has at most
    # max(2 n, n + 900 s x rate) points for n samples.
    d = _running_like(20_000)  # 200 s of samples
    ok, too_long = d.time_s.copy(), d.time_s.copy()
    ok[10_000:] += MAX_MISSING_S - 1.0
    too_long[10_000:] += MAX_MISSING_S + 1.0
    SensorData(ok, d.acc_mps2, None, "pelvis").validate()
    with pytest.raises(InputError, match="split the file"):
        SensorData(too_long, d.acc_mps2, None, "pelvis").validate()
    long = _running_like(200_000)  # 2000 s of samples: twice that span passes, more does not
    t = long.time_s.copy()
    t[100_000:] += 1900.0
    SensorData(t, long.acc_mps2, None, "pelvis").validate()
    t[100_000:] += 200.0
    with pytest.raises(InputError, match="split the file"):
        SensorData(t, long.acc_mps2, None, "pelvis").validate()


def test_one_axis_in_g_and_two_in_mps2_is_refused_by_analyze_the_api_and_import(tmp_path, sim_short, capsys):
    pel = sim_short.session.pelvis
    acc = pel.acc_mps2.copy()
    acc[:, 0] /= 9.80665
    mixed = SensorData(pel.time_s, acc, pel.gyr_radps, "pelvis", source="mixed.csv")
    path = write_sensor_csv(mixed, tmp_path / "mixed.csv")
    assert main(["analyze", "--pelvis", str(path)]) == 2
    assert "mixed units" in capsys.readouterr().err
    with pytest.raises(InputError, match="mixed units"):
        analyze(pelvis=mixed)
    assert main(["import", "csv", str(path), "--role", "pelvis", "--dry-run"]) == 2
    assert "mixed units" in capsys.readouterr().err


@pytest.mark.parametrize("mass", [7.0, 0.0, -70.0, 400.0, float("nan")])
def test_an_implausible_body_mass_is_refused_on_every_way_in(mass, tmp_path, sim_short, capsys):
    with pytest.raises(InputError, match="not plausible"):
        check_mass_kg(mass)
    with pytest.raises(InputError, match="not plausible"):
        SessionWriter(tmp_path / "s", mass_kg=mass, sensors=[{"role": "pelvis"}])  # what `record` writes through
    with pytest.raises(InputError, match="not plausible"):
        analyze(pelvis=sim_short.session.pelvis, mass_kg=mass)
    path = write_sensor_csv(sim_short.session.pelvis, tmp_path / "p.csv")
    for argv in (["analyze", "--pelvis", str(path)], ["import", "csv", str(path), "--role", "pelvis", "--dry-run"],
                 ["record", "--pelvis", "AA:BB:CC:DD:EE:FF"], ["batch", str(tmp_path), "--out", "x.parquet"]):
        assert main([*argv, "--mass-kg", str(mass)]) == 2
        err = capsys.readouterr().err
        assert "not plausible" in err and len(err.strip().splitlines()) == 1


def test_a_session_folder_with_an_implausible_mass_is_refused_unless_overridden(tmp_path, sim_short, capsys):
    from stridesense.streaming.recording import write_session

    folder = write_session(tmp_path / "s", sim_short.session)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "mass_kg": 7.0}))
    assert main(["analyze", str(folder), "--quiet"]) == 2
    assert "the session's body mass 7.0 kg is not plausible" in capsys.readouterr().err
    assert main(["analyze", str(folder), "--quiet", "--mass-kg", "70"]) == 0


def test_an_imported_session_is_dated_by_the_recording_not_the_import(tmp_path, sim_short, capsys):
    pel = sim_short.session.pelvis
    on_phone = SensorData(pel.time_s + PHONE_EPOCH_S, pel.acc_mps2, pel.gyr_radps, "pelvis")
    path = write_sensor_csv(on_phone, tmp_path / "phone.csv")
    out = tmp_path / "s"
    assert main(["import", "csv", str(path), "--role", "pelvis", "--out", str(out)]) == 0
    assert "recorded at 2026-06-10T22:00:00+00:00 (from the samples' clock)" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["recorded_at"] == "2026-06-10T22:00:00+00:00"
    result = analyze(session_dir=out, mass_kg=None)
    assert result.info["recorded_at"] == "2026-06-10T22:00:00+00:00"
    from stridesense.reports.data import _started  # the library's and the trends report's date

    assert _started(json.loads((out / "manifest.json").read_text()), out) == "2026-06-10T22:00:00+00:00"
    # Settable by the user; without a date in the samples, the export file's time stands in.
    plain = write_sensor_csv(pel, tmp_path / "plain.csv")
    assert main(["import", "csv", str(plain), "--role", "pelvis", "--out", str(tmp_path / "u"),
                 "--recorded-at", "2026-05-30T07:15"]) == 0
    assert json.loads((tmp_path / "u" / "manifest.json").read_text())["recorded_at"] == "2026-05-30T07:15:00"
    assert main(["import", "csv", str(plain), "--role", "pelvis", "--dry-run", "--recorded-at", "last week"]) == 2
    assert "not a date and time" in capsys.readouterr().err


def test_analyze_takes_a_folder_of_generic_csvs_as_batch_does(tmp_path, capsys):
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(sim_dir), "--seed", "6", "--duration-s", "40"]) == 0
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["analyze", str(sim_dir), "--out", str(a), "--quiet"]) == 0
    assert main(["analyze", "--pelvis", str(sim_dir / "pelvis.csv"), "--trunk", str(sim_dir / "trunk.csv"),
                 "--out", str(b), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def test_demo_refuses_a_wrong_table_name_before_analysing_and_writes_nothing_by_default(tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--out", "d.xlsx"]) == 2
    captured = capsys.readouterr()
    assert "must end in .csv or .parquet" in captured.err and "steps" not in captured.out  # nothing analysed
    assert main(["demo"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_replay_every_even_n_prints_both_sides(tmp_path, capsys):
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(sim_dir), "--seed", "8", "--duration-s", "45", "--trunk-rate-hz", "0"]) == 0
    capsys.readouterr()
    assert main(["replay", str(sim_dir), "--speed", "0", "--every", "10"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if " s  L  " in x or " s  R  " in x]
    sides = [x.split()[2] for x in lines]
    assert len(sides) >= 6 and sides.count("L") >= 3 and sides.count("R") >= 3


def test_unrelated_clocks_analyse_as_if_on_one_clock(tmp_path, sim_short, capsys):
    s = sim_short.session
    on_phone = SensorData(s.pelvis.time_s + PHONE_EPOCH_S, s.pelvis.acc_mps2, s.pelvis.gyr_radps, "pelvis")
    p, t = write_sensor_csv(on_phone, tmp_path / "p.csv"), write_sensor_csv(s.trunk, tmp_path / "t.csv")
    ref_p, ref_t = write_sensor_csv(s.pelvis, tmp_path / "rp.csv"), write_sensor_csv(s.trunk, tmp_path / "rt.csv")
    assert main(["analyze", "--pelvis", str(p), "--trunk", str(t), "--out", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert "notice:" in out and out.index("notice:") < out.index("steps")  # before the results
    assert main(["analyze", "--pelvis", str(ref_p), "--trunk", str(ref_t), "--out", str(tmp_path / "b.csv"),
                 "--quiet"]) == 0
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert len(a) == len(b) > 100
    assert np.abs(a["ic_s"] - PHONE_EPOCH_S - b["ic_s"]).max() < 2e-3  # under half a sample at 200 Hz
    assert (a["trunk_lean_deg"] - b["trunk_lean_deg"]).abs().max() < 0.2
