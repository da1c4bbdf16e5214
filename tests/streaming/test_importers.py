import numpy as np
import pandas as pd
import pytest

from stridesense.cli import main
from stridesense.errors import InputError
from stridesense.models.validation import compare_to_truth
from stridesense.streaming.importers import read_csv_export, read_polar_sensor_logger
from stridesense.streaming.recording import read_session

POLAR_EPOCH_NS = 946_684_800 * 10**9  # 2000-01-01 in Unix ns


def write_psl(path, data, kind, phone_lag_s=0.05):
    """Write one sensor as Polar Sensor Logger writes it: ';', phone time, sensor ns, integer mg / float dps."""
    t = data.time_s
    sensor_ns = (POLAR_EPOCH_NS + 26 * 365 * 86400 * 10**9 + np.round(t * 1e9).astype(np.int64)) - POLAR_EPOCH_NS
    phone = pd.to_datetime(1_763_600_000 + t + phone_lag_s, unit="s").strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    if kind == "ACC":
        vals = np.round(data.acc_mps2 / 9.80665 * 1000).astype(int)
        header = "Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg] "
    else:
        vals = np.round(np.degrees(data.gyr_radps), 2)
        header = "Phone timestamp;sensor timestamp [ns];X [dps];Y [dps];Z [dps] "
    lines = [header] + [f"{p};{n};{v[0]};{v[1]};{v[2]}" for p, n, v in zip(phone, sensor_ns, vals)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_polar_sensor_logger_files_import_in_si_units_and_analyse(tmp_path, sim_short):
    pel = sim_short.session.pelvis
    acc = write_psl(tmp_path / "Polar_Sense_ACC.txt", pel, "ACC")
    gyr = write_psl(tmp_path / "Polar_Sense_GYRO.txt", pel, "GYRO")
    data = read_polar_sensor_logger(acc, gyr, role="pelvis")
    assert data.n == pel.n
    assert np.abs(data.acc_mps2 - pel.acc_mps2).max() < 0.006  # 1 mg resolution
    assert np.abs(data.gyr_radps - pel.gyr_radps).max() < 1e-3
    assert np.diff(data.time_s) == pytest.approx(np.diff(pel.time_s), abs=1e-6)
    out = tmp_path / "session"
    assert main(["import", "polar-sensor-logger", str(acc), str(gyr), "--role", "pelvis", "--out", str(out)]) == 0
    from stridesense.api import analyze

    steps = analyze(session_dir=out).steps
    c = compare_to_truth(steps.assign(ic_s=steps.ic_s - data.time_s[0] + pel.time_s[0]), sim_short.truth)
    assert c.n_matched >= c.n_truth - 1 and c.n_extra == 0


def test_generic_csv_with_user_names_and_units(tmp_path, sim_short):
    pel = sim_short.session.pelvis
    df = pd.DataFrame({"ts": np.round(pel.time_s * 1000, 3), "ax": pel.acc_mps2[:, 0] / 9.80665,
                       "ay": pel.acc_mps2[:, 1] / 9.80665, "az": pel.acc_mps2[:, 2] / 9.80665,
                       "gx": np.degrees(pel.gyr_radps[:, 0]), "gy": np.degrees(pel.gyr_radps[:, 1]),
                       "gz": np.degrees(pel.gyr_radps[:, 2])})
    df.to_csv(tmp_path / "export.csv", sep=";", index=False)
    data, cols = read_csv_export(tmp_path / "export.csv", role="trunk", time_col="ts", time_unit="ms",
                                 acc_unit="g", gyr_unit="dps")
    assert cols == ["ts", "ax", "ay", "az", "gx", "gy", "gz"]
    assert np.abs(data.acc_mps2 - pel.acc_mps2).max() < 1e-9
    assert np.abs(data.gyr_radps - pel.gyr_radps).max() < 1e-9


def _csv(tmp_path, t, acc, name="x.csv", extra_rows=None):
    df = pd.DataFrame({"time": t, "ax": acc[:, 0], "ay": acc[:, 1], "az": acc[:, 2]})
    if extra_rows is not None:
        df = pd.concat([df, extra_rows]).sort_index(kind="stable").reset_index(drop=True)
    df.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _still(n=3000, fs=100.0):
    return np.arange(n) / fs, np.tile([0.0, 0.0, 9.81], (n, 1)) + np.random.default_rng(0).normal(0, 0.01, (n, 3))


def test_a_unit_that_physics_contradicts_is_refused_with_the_right_one_suggested(tmp_path):
    t, acc = _still()
    path = _csv(tmp_path, t, acc / 9.80665)
    with pytest.raises(InputError, match="use --acc-unit g"):
        read_csv_export(path, role="pelvis")
    with pytest.raises(InputError, match="in ms"):
        read_csv_export(_csv(tmp_path, t * 1000, acc, "ms.csv"), role="pelvis")


def test_rate_changing_mid_way_and_clock_going_back_name_the_line(tmp_path):
    t, acc = _still(4000)
    t2 = np.concatenate([t[:2000], t[1999] + (np.arange(1, 2001) / 50.0)])
    with pytest.raises(InputError, match=r"line \d+: the sample rate changes from 100 Hz to about 50 Hz"):
        read_csv_export(_csv(tmp_path, t2, acc), role="pelvis")
    t3 = t.copy()
    t3[1500] = t3[1400] + 0.005  # back in time, but no repeated stamp
    with pytest.raises(InputError, match="line 1502: the clock jumps back"):
        read_csv_export(_csv(tmp_path, t3, acc, "back.csv"), role="pelvis")


def test_exact_duplicate_rows_are_dropped_and_conflicting_ones_refused(tmp_path):
    t, acc = _still()
    df = pd.DataFrame({"time": t, "ax": acc[:, 0], "ay": acc[:, 1], "az": acc[:, 2]})
    dup = pd.concat([df.iloc[:100], df.iloc[99:]], ignore_index=True)
    dup.to_csv(tmp_path / "dup.csv", index=False)
    data, _ = read_csv_export(tmp_path / "dup.csv", role="pelvis")
    assert data.n == len(df)
    dup.loc[100, "ax"] += 1.0
    dup.to_csv(tmp_path / "conflict.csv", index=False)
    with pytest.raises(InputError, match="different rows at the same time"):
        read_csv_export(tmp_path / "conflict.csv", role="pelvis")


def test_an_unknown_header_is_named(tmp_path):
    (tmp_path / "ACC.txt").write_text("Phone timestamp;X [m/s2];Y;Z\n2026-01-01 00:00:00.000;1;2;3\n")
    with pytest.raises(InputError, match="line 1: header"):
        read_polar_sensor_logger(tmp_path / "ACC.txt", None, role="pelvis")
    (tmp_path / "w.csv").write_text("when,a,b,c\n0,1,2,3\n")
    with pytest.raises(InputError, match="line 1: header when, a, b, c lacks"):
        read_csv_export(tmp_path / "w.csv", role="pelvis")


def test_import_cli_dry_run_writes_nothing_and_two_imports_make_one_session(tmp_path, sim_short, capsys):
    pel, tr = sim_short.session.pelvis, sim_short.session.trunk
    files = {}
    for role, data in (("pelvis", pel), ("trunk", tr)):
        files[role] = (write_psl(tmp_path / f"{role}_ACC.txt", data, "ACC"),
                       write_psl(tmp_path / f"{role}_GYRO.txt", data, "GYRO"))
    out = tmp_path / "s"
    assert main(["import", "polar-sensor-logger", *map(str, files["trunk"]), "--role", "trunk", "--out", str(out),
                 "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out and not out.exists()
    assert main(["import", "polar-sensor-logger", *map(str, files["trunk"]), "--role", "trunk", "--out", str(out)]) == 0
    assert main(["import", "polar-sensor-logger", *map(str, files["pelvis"]), "--role", "pelvis",
                 "--out", str(out), "--runner", "ana"]) == 0
    s = read_session(out)
    assert s.pelvis.n == pel.n and s.trunk.n == tr.n
    assert main(["import", "polar-sensor-logger", *map(str, files["pelvis"]), "--role", "pelvis",
                 "--out", str(out)]) == 2
    assert "already has a pelvis" in capsys.readouterr().err


def test_mixed_units_between_axes_are_refused(tmp_path, sim_short):
    pel = sim_short.session.pelvis
    acc = pel.acc_mps2.copy()
    acc[:, 0] /= 9.80665  # x exported in g, y and z in m/s^2
    df = pd.DataFrame({"time_s": pel.time_s, "acc_x": acc[:, 0], "acc_y": acc[:, 1], "acc_z": acc[:, 2]})
    df.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(InputError, match="mixed units"):
        read_csv_export(tmp_path / "mixed.csv", role="pelvis")


def write_showcase(path, time_s, values, per_notification=8, start_ms=4_294_960_000):
    """Write one measurement as Movesense Showcase converts a recording to CSV.

    ``timestamp,x,y,z``; a notification's first sample carries its device
    timestamp (ms, u32: this one wraps mid-file), the others an empty field;
    values as float32 text.
    """
    lines = ["timestamp,x,y,z"]
    for i in range(0, len(time_s) - per_notification + 1, per_notification):
        ms = int(round(start_ms + time_s[i] * 1000)) % 2**32
        for j in range(i, i + per_notification):
            x, y, z = (str(np.float32(v)) for v in values[j])
            lines.append(f"{ms if j == i else ''},{x},{y},{z}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def sim_208():
    from stridesense.models.simulator import SimConfig, simulate_session

    return simulate_session(SimConfig(seed=21, duration_s=40.0, pelvis_rate_hz=208.0, trunk_rate_hz=None))


def test_movesense_showcase_files_import_in_si_units_and_analyse(tmp_path, sim_208):
    from stridesense.api import analyze

    pel = sim_208.session.pelvis
    acc = write_showcase(tmp_path / "2026-06-10T10:00:00Z_223330000001_Acc.csv", pel.time_s, pel.acc_mps2)
    gyr = write_showcase(tmp_path / "2026-06-10T10:00:00Z_223330000001_Gyro.csv", pel.time_s,
                         np.degrees(pel.gyr_radps))
    out = tmp_path / "session"
    assert main(["import", "movesense-showcase", str(acc), str(gyr), "--role", "pelvis", "--out", str(out)]) == 0
    data = read_session(out).pelvis
    n = pel.n // 8 * 8
    assert data.n == n
    assert np.abs(data.acc_mps2 - pel.acc_mps2[:n]).max() < 1e-5
    assert np.abs(data.gyr_radps - pel.gyr_radps[:n]).max() < 1e-6
    assert np.diff(data.time_s) == pytest.approx(np.full(n - 1, 1 / 208), abs=1e-3)  # ms stamps, wrap unwrapped
    steps = analyze(session_dir=out).steps  # the session starts at the first sample, as the simulator's
    c = compare_to_truth(steps.assign(ic_s=steps.ic_s + pel.time_s[0]), sim_208.truth)
    assert c.n_matched >= c.n_truth - 2 and c.n_extra == 0 and c.ic_median_abs_ms < 5


def test_movesense_showcase_errors_name_the_line(tmp_path, sim_208):
    from stridesense.streaming.importers import read_movesense_showcase

    pel = sim_208.session.pelvis
    bad = tmp_path / "hr.csv"
    bad.write_text("average,rrData\n60,1000\n")
    with pytest.raises(InputError, match="line 1: header"):
        read_movesense_showcase(bad, None, role="pelvis")
    back = write_showcase(tmp_path / "acc.csv", pel.time_s, pel.acc_mps2, start_ms=1000)
    lines = back.read_text().splitlines()
    lines[81] = "500," + lines[81].split(",", 1)[1]  # the 11th notification's stamp jumps back
    back.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 82: the timestamp goes back"):
        read_movesense_showcase(back, None, role="pelvis")
    g = write_showcase(tmp_path / "acc_in_g.csv", pel.time_s, pel.acc_mps2 / 9.80665)
    with pytest.raises(InputError, match="g"):
        read_movesense_showcase(g, None, role="pelvis")


def test_polar_pelvis_and_showcase_trunk_on_unrelated_clocks_analyse_as_one_session(tmp_path, sim_short, capsys):
    """Issue 14's hang: a Polar Sensor Logger pelvis (phone epoch clock) and a Movesense Showcase trunk (device
    milliseconds from power-on), imported as the README shows, analysed by `analyze` and `batch`."""
    from stridesense.api import analyze

    pel, tr = sim_short.session.pelvis, sim_short.session.trunk
    out = tmp_path / "club" / "ana" / "run"
    psl = [write_psl(tmp_path / f"Polar_H10_{k}.txt", pel, k) for k in ("ACC", "GYRO")]
    assert main(["import", "polar-sensor-logger", *map(str, psl), "--role", "pelvis", "--out", str(out)]) == 0
    show = [write_showcase(tmp_path / f"2026-06-10T10:00:00Z_223330000001_{k}.csv", tr.time_s, v)
            for k, v in (("Acc", tr.acc_mps2), ("Gyro", np.degrees(tr.gyr_radps)))]
    assert main(["import", "movesense-showcase", *map(str, show), "--role", "trunk", "--out", str(out)]) == 0
    assert "recorded at 2026-06-10T10:00:00+00:00 (from the file name)" in capsys.readouterr().out
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert manifest["recorded_at"].startswith("2025-11-20")  # the pelvis' phone clock: the first import's
    result = analyze(session_dir=out, mass_kg=None)
    assert result.info["clock_alignment"]["applied"] and result.info["clock_alignment"]["confidence"] >= 0.75
    c = compare_to_truth(result.steps.assign(ic_s=result.steps.ic_s - (read_session(out).pelvis.time_s[0]
                                                                        - pel.time_s[0])), sim_short.truth)
    assert c.n_matched >= c.n_truth - 3 and c.mean_abs["trunk_lean_deg"] < 1.5
    from stridesense.batch import run_batch

    batch = run_batch(tmp_path / "club", tmp_path / "r.parquet", n_workers=1)
    assert batch.analysed == [str(out)] and not batch.failed
    assert str(batch.sessions["date"].iloc[0]).startswith("2025-11-20")
