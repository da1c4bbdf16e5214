"""Comparison alignment and trend aggregation on small hand-made tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stridesense.errors import InputError
from stridesense.reports.compare import alignment_axis, bin_size, choose_alignment
from stridesense.reports.data import SessionData
from stridesense.reports.trends import build_trends_report, per_session_means


def _data(step_times, distance_m=None, ic0=100.0):
    ic = ic0 + np.concatenate([[0], np.cumsum(step_times)[:-1]])
    steps = pd.DataFrame({"side": ["L", "R"] * (len(step_times) // 2), "ic_s": ic, "step_time_s": step_times,
                          "quality": "ok"})
    return SessionData(Path("s"), "ana", "", steps, None, {}, distance_m=distance_m)


def test_alignment_by_running_time_and_by_distance():
    d = _data([0.5, 0.5, 0.5, 0.5], distance_m=2000.0)
    np.testing.assert_allclose(alignment_axis(d, "time"), [0, 0.5 / 60, 1 / 60, 1.5 / 60])
    # 2 km over 2 s of running: 0.5 km per step at constant speed.
    np.testing.assert_allclose(alignment_axis(d, "distance"), [0, 0.5, 1.0, 1.5])


def test_alignment_falls_back_to_time_unless_both_know_their_distance():
    a, b, c = _data([0.5, 0.5], 1000.0), _data([0.5, 0.5], 1500.0), _data([0.5, 0.5])
    assert choose_alignment(a, b, "auto") == "distance"
    assert choose_alignment(a, c, "auto") == "time"
    assert choose_alignment(a, b, "time") == "time"
    with pytest.raises(InputError, match="cannot align by distance"):
        choose_alignment(a, c, "distance")
    with pytest.raises(InputError, match="auto, time or distance"):
        choose_alignment(a, b, "pace")


def test_bin_size_is_round_and_keeps_at_most_60_bins():
    assert bin_size(2.5) == 0.1
    assert bin_size(30.0) == 0.5
    assert bin_size(60.0) == 1.0
    assert bin_size(61.0) == 2.0


def test_per_session_means_leave_doubtful_steps_out():
    sessions = pd.DataFrame({"session_id": ["a", "b"], "date": pd.to_datetime(["2026-01-05", "2026-01-12"])})
    steps = pd.DataFrame({"session_id": ["a"] * 4 + ["b"] * 2, "side": ["L", "R", "L", "R", "L", "R"],
                          "quality": ["ok", "ok", "gap", "turning", "ok", "ok"],
                          "pelvic_drop_deg": [4.0, 8.0, 40.0, 10.0, 5.0, 7.0]})
    means = per_session_means(sessions, steps).set_index(["session_id", "side"])["pelvic_drop_deg"]
    # "gap" leaves its step out; "turning" keeps it.
    assert means.to_dict() == {("a", "L"): 4.0, ("a", "R"): 9.0, ("b", "L"): 5.0, ("b", "R"): 7.0}


def test_per_session_means_take_angles_from_neutral_only_from_a_standing_neutral():
    sessions = pd.DataFrame({"session_id": ["a", "b"], "date": pd.to_datetime(["2026-01-05", "2026-01-12"])})
    steps = pd.DataFrame({"session_id": ["a", "a", "b", "b"], "side": ["L", "R", "L", "R"], "quality": ["ok"] * 4,
                          "neutral": ["standing", "standing", "running_posture", "running_posture"],
                          "trunk_lean_deg": [9.0, 8.0, 0.2, -0.1], "cadence_spm": [170.0, 172.0, 175.0, 177.0]})
    means = per_session_means(sessions, steps).set_index(["session_id", "side"])
    assert means.loc[("a", "L"), "trunk_lean_deg"] == 9.0
    assert means.loc[[("b", "L"), ("b", "R")], "trunk_lean_deg"].isna().all()  # near 0 by construction: left out
    assert means.loc[("b", "R"), "cadence_spm"] == 177.0  # not an angle from neutral: kept


def test_trends_page_flags_a_week_up_more_than_10_percent():
    sessions = pd.DataFrame({"session_id": ["a", "b", "c"], "folder": ["/x/a", "/x/b", "/x/c"],
                             "started": ["2026-01-05T08:00:00+00:00", "2026-01-13T08:00:00+00:00",
                                         "2026-01-20T08:00:00+00:00"],
                             "running_time_s": [1000.0, 1050.0, 1300.0], "distance_m": [np.nan] * 3,
                             "n_steps": [3000, 3100, 3900]})
    steps = pd.DataFrame({"session_id": ["a", "a", "b", "b", "c", "c"], "side": ["L", "R"] * 3, "quality": "ok",
                          "pelvic_drop_deg": [4.0, 8.0, 4.5, 7.5, 5.0, 7.0]})
    html = build_trends_report("ana", sessions, steps)
    # +5 % in the second week: no flag; +24 % in the third: flagged.
    assert "week of 2026-01-19: running time up 24 %" in html
    assert "week of 2026-01-12: running time up" not in html
