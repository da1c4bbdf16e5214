"""Two sensors on unrelated clocks, put on one clock from their impacts.

The outside simulator's sessions (../shared/data/sim-external, one clock, not
written for this code) are moved onto unrelated clocks here; the truth is the
clock they came on.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stridesense.errors import InputError
from stridesense.imu.alignment import align_trunk, find_alignment, overlap_share
from stridesense.streaming.generic_csv import read_sensor_csv

SIM_EXTERNAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "sim-external"
PHONE_EPOCH_S = 1781128800.022  # a Polar Sensor Logger pelvis on the phone's clock


def _external(name):
    d = SIM_EXTERNAL / name
    if not d.exists():
        pytest.skip("../shared/data/sim-external is not here")
    return read_sensor_csv(d / "pelvis.csv", "pelvis"), read_sensor_csv(d / "trunk.csv", "trunk")


def _on_clock(data, offset_s, drift_ppm=0.0):
    """The same samples read on another clock: t' = (t - offset) * (1 + drift)."""
    return replace(data, time_s=(data.time_s - offset_s) * (1 + drift_ppm * 1e-6))


@pytest.mark.parametrize("session", ["session1", "session2", "session3", "session4"])
@pytest.mark.parametrize("offset_s, drift_ppm", [(-PHONE_EPOCH_S, 0.0), (-37.3, 40.0), (0.25, -30.0), (900.0, 0.0)])
def test_unrelated_clocks_are_aligned_to_a_few_ms_from_the_impacts(session, offset_s, drift_ppm):
    pelvis, trunk = _external(session)
    moved = _on_clock(trunk, offset_s, drift_ppm)
    found = find_alignment(pelvis, moved)
    assert found.ok and found.confidence >= 0.75
    err_ms = 1e3 * (found.to_pelvis_clock(moved.time_s) - trunk.time_s)
    # The impacts reach the trunk a little after the pelvis in the outside simulator: 2-3 ms is the bias seen.
    assert np.abs(err_ms).max() < 4.0
    assert found.drift_ppm == pytest.approx(-drift_ppm, abs=15.0)


def test_clocks_that_already_agree_are_left_alone():
    pelvis, trunk = _external("session1")
    same, found, notice = align_trunk(pelvis, trunk)
    assert notice is None and same is trunk
    assert abs(found.offset_s) < 0.004  # measured all the same, for the record


def test_a_trunk_on_the_phone_epoch_is_moved_with_a_notice_saying_how():
    pelvis, trunk = _external("session2")
    moved, found, notice = align_trunk(_on_clock(pelvis, -PHONE_EPOCH_S), trunk)
    assert overlap_share(moved.time_s, pelvis.time_s + PHONE_EPOCH_S) > 0.95
    assert np.abs(moved.time_s - (trunk.time_s + PHONE_EPOCH_S)).max() < 0.004
    assert "offset +1781128800.02" in notice and "windows agree" in notice


def test_sensors_from_different_runs_on_unrelated_clocks_are_refused():
    pelvis, _ = _external("session1")
    _, other_trunk = _external("session4")
    with pytest.raises(InputError, match="do not overlap.*impacts of running do not line them up"):
        align_trunk(pelvis, _on_clock(other_trunk, -PHONE_EPOCH_S))


def test_sensors_without_running_on_unrelated_clocks_are_refused():
    pelvis, trunk = _external("session3")
    still_p, still_t = pelvis.slice_time(0.0, 7.5), trunk.slice_time(0.0, 7.5)  # the standing only
    with pytest.raises(InputError, match="do not overlap"):
        align_trunk(still_p, _on_clock(still_t, 5000.0))


def test_drift_over_ten_minutes_is_followed_to_a_ms():
    from stridesense.models.simulator import SimConfig, simulate_session

    s = simulate_session(SimConfig(seed=31, duration_s=600.0)).session
    moved = _on_clock(s.trunk, -5000.0, 150.0)  # 90 ms apart by the end: a cheap crystal's drift
    found = find_alignment(s.pelvis, moved)
    assert found.ok and found.n_windows >= 25
    assert found.drift_ppm == pytest.approx(-150.0, abs=5.0)
    assert np.abs(found.to_pelvis_clock(moved.time_s) - s.trunk.time_s).max() < 1e-3
