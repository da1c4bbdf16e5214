import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from stridesense.imu.consts import STEP_COLUMNS
from stridesense.models.guidelines import evaluate
from stridesense.models.summary import asymmetry_index, summarize
from stridesense.models.training_load import load_flags, weekly_load
from stridesense.report import render_summary


def _steps(n=100, drop_l=5.0, drop_r=7.0, lean=9.0, lean_end=9.0, quality="ok"):
    rows = []
    for k in range(n):
        side = "L" if k % 2 == 0 else "R"
        rows.append({c: 1.0 for c in STEP_COLUMNS} | {
            "side": side, "ic_s": 10 + 0.35 * k, "to_s": 10.25 + 0.35 * k, "step_time_s": 0.35,
            "cadence_spm": 171.4, "contact_time_ms": 250.0, "braking_mps": 0.15, "peak_vgrf_bw": 2.5,
            "pelvic_drop_deg": drop_l if side == "L" else drop_r,
            "trunk_lean_deg": lean + (lean_end - lean) * k / (n - 1), "quality": quality, "bout": 1})
    return pd.DataFrame(rows)


def test_per_side_means_asymmetry_and_counts():
    s = summarize(_steps())
    assert s.mean("pelvic_drop_deg", "L") == pytest.approx(5.0)
    assert s.mean("pelvic_drop_deg", "R") == pytest.approx(7.0)
    assert s.mean("pelvic_drop_deg") == pytest.approx(6.0)
    assert s.asymmetry_pct["pelvic_drop_deg"] == pytest.approx(100 * 2 / 6)
    assert s.stats.loc["pelvic_drop_deg", "L_n"] == 50
    assert asymmetry_index(0.0, 0.0) != asymmetry_index(0.0, 0.0)  # NaN when undefined


def test_fatigue_compares_first_and_last_fifth():
    s = summarize(_steps(lean=8.0, lean_end=12.0))
    assert s.fatigue.loc["trunk_lean_deg", "first_fifth"] == pytest.approx(8.4, abs=0.05)
    assert s.fatigue.loc["trunk_lean_deg", "last_fifth"] == pytest.approx(11.6, abs=0.05)
    assert any(f.id == "fatigue_trunk_lean_deg" for f in s.flags)


def test_untrusted_steps_are_left_out_of_means_but_counted():
    steps = _steps()
    steps.loc[:9, "quality"] = "gap"
    steps.loc[:9, "pelvic_drop_deg"] = 50.0
    steps.loc[10:19, "quality"] = "turning"
    s = summarize(steps)
    assert s.n_trusted == 90
    assert s.mean("pelvic_drop_deg") == pytest.approx(6.0)
    assert s.quality_counts["gap"] == 10 and s.quality_counts["turning"] == 10


def test_a_step_without_trunk_data_keeps_its_pelvis_values_in_the_means():
    steps = _steps()
    steps.loc[:19, "quality"] = "trunk_missing"
    steps.loc[:19, "trunk_lean_deg"] = np.nan
    steps.loc[:19, "pelvic_drop_deg"] = 20.0  # counted: the pelvis measured these steps
    s = summarize(steps)
    assert s.stats.loc["pelvic_drop_deg", "L_n"] == 50 and s.stats.loc["trunk_lean_deg", "L_n"] == 40
    assert s.mean("pelvic_drop_deg", "L") == pytest.approx((10 * 20.0 + 40 * 5.0) / 50)
    assert s.mean("trunk_lean_deg") == pytest.approx(9.0)


@pytest.mark.parametrize("lean, expected", [(9.0, None), (6.5, "info"), (2.0, "warning"), (16.0, "warning")])
def test_trunk_lean_outside_8_to_10_degrees_is_flagged_with_its_source(lean, expected):
    flags = {f.id: f for f in evaluate(summarize(_steps(lean=lean, lean_end=lean), with_flags=False))}
    if expected is None:
        assert "trunk_lean" not in flags
    else:
        assert flags["trunk_lean"].severity == expected
        assert "Teng & Powers 2014" in flags["trunk_lean"].source


def test_large_and_asymmetric_pelvic_drop_and_overstriding_flags():
    steps = _steps(drop_l=6.0, drop_r=10.0)
    steps["braking_mps"] = 0.35
    steps["contact_time_ms"] = 300.0
    ids = {f.id for f in summarize(steps).flags}
    assert {"pelvic_drop", "pelvic_drop_asymmetry", "overstriding"} <= ids
    ids = {f.id for f in summarize(_steps(drop_l=5.0, drop_r=5.2)).flags}
    assert not {"pelvic_drop", "pelvic_drop_asymmetry", "overstriding"} & ids


def test_missing_columns_are_explained_in_the_report():
    steps = _steps()
    steps["trunk_lean_deg"] = np.nan
    s = summarize(steps, missing_reasons={"trunk_lean_deg": "no trunk sensor in this session"})
    buf = io.StringIO()
    render_summary(s, Console(file=buf, width=120))
    text = buf.getvalue()
    assert "no trunk sensor in this session" in text
    assert "pelvic drop" in text and "experimental" in text.lower()
    assert "\x1b[" not in text  # plain text when not a terminal
    assert s.to_frame().query("metric == 'trunk_lean_deg'")["missing_reason"].iloc[0].startswith("no trunk")


def test_weekly_load_flags_increases_above_ten_percent():
    sessions = pd.DataFrame({
        "date": ["2026-11-02", "2026-11-04", "2026-11-09", "2026-11-16", "2026-11-18"],
        "running_time_s": [1800, 1800, 3800, 2000, 2400],
        "distance_m": [5000, 5000, 10500, 5500, 6500],
    })
    weekly = weekly_load(sessions)
    assert weekly["running_time_s"].tolist() == [3600, 3800, 4400]
    assert weekly["running_time_s_change_pct"].iloc[1] == pytest.approx(100 * 200 / 3600)
    flags = load_flags(weekly)
    assert [f.id for f in flags] == ["weekly_running_time_s", "weekly_distance_m"]  # week 3: +16 %, +14 %
    assert "2026-11-16" in flags[0].message and "Buist" in flags[0].source


def test_plot_writes_a_png(tmp_path):
    from stridesense.models.plots import plot_session

    steps = _steps()
    path = plot_session(steps, summarize(steps), tmp_path / "s.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
