import numpy as np
import pytest

from stridesense.errors import CalibrationError
from stridesense.imu.calibration import (
    fallback_calibration,
    forward_axis,
    segment_alignment,
    standing_calibration,
    still_mask,
)
from stridesense.imu.fusion import OrientationFilter


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.mark.parametrize("role", ["pelvis", "trunk"])
def test_standing_gives_gyro_bias_and_vertical_of_a_sensor_clipped_on_at_any_angle(sim_short, role):
    d = getattr(sim_short.session, role)
    cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, d.sampling_rate_hz)
    assert cal.from_standing and cal.t_end_s - cal.t_start_s > 4.0
    true_up = sim_short.mounts[role][2]  # segment z in sensor coordinates
    # accelerometer bias (8 mg per axis in the simulator) tilts the vertical slightly
    assert _angle_deg(cal.up_sensor, true_up) < 2.0
    still = (d.time_s > cal.t_start_s) & (d.time_s < cal.t_end_s)
    true_bias = d.gyr_radps[still].mean(axis=0)
    assert cal.gyr_bias_radps == pytest.approx(true_bias, abs=5e-4)  # noise 0.005 rad/s over ~1000 samples
    assert np.linalg.norm(cal.gyr_bias_radps) > 0.005  # the simulator's bias is really there


@pytest.mark.parametrize("role", ["pelvis", "trunk"])
def test_forward_axis_from_running_is_within_three_degrees(sim_short, role):
    d = getattr(sim_short.session, role)
    fs = d.sampling_rate_hz
    cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
    res = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
    run = (d.time_s > cal.t_end_s + 1) & (d.time_s < cal.t_end_s + 21)
    fwd, conf = forward_axis(res.quat[run], d.acc_mps2[run], cal.up_sensor, fs)
    assert _angle_deg(fwd, sim_short.mounts[role][0]) < 3.0
    assert conf > 0.9
    m = segment_alignment(cal.up_sensor, fwd)
    assert m.T @ m == pytest.approx(np.eye(3), abs=1e-12)
    assert np.linalg.det(m) == pytest.approx(1.0)


def test_no_standing_period_is_a_calibration_error_and_the_fallback_warns(sim_short):
    d = sim_short.session.pelvis.slice_time(10.0, 60.0)
    with pytest.raises(CalibrationError, match="standing"):
        standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, d.sampling_rate_hz, source="p.csv")
    with pytest.warns(UserWarning, match="no standing calibration"):
        cal = fallback_calibration(d.time_s, d.acc_mps2, d.gyr_radps)
    assert not cal.from_standing
    # the mean specific force over whole strides is gravity: the vertical is still close
    assert _angle_deg(cal.up_sensor, sim_short.mounts["pelvis"][2]) < 15.0


def test_still_mask_is_true_standing_and_false_running(sim_short):
    d = sim_short.session.pelvis
    still = still_mask(d.acc_mps2, d.gyr_radps, d.sampling_rate_hz)
    assert still[(d.time_s > 1) & (d.time_s < 5)].all()
    assert not still[d.time_s > 10].any()
