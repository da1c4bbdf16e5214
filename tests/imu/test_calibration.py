import numpy as np
import pytest

from stridesense.errors import CalibrationError
from stridesense.imu.calibration import (
    fallback_calibration,
    forward_axis,
    refine_gyro_bias,
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


@pytest.mark.parametrize("seed", [210, 211, 212])
def test_forward_axis_holds_under_sway_as_strong_as_braking_at_100_hz_with_noise(seed):
    """Report seeds (200+), not the tuning ones (100-119): sideways force 4 m/s^2, twice the noise, 100 Hz."""
    from stridesense.models.simulator import SimConfig, simulate_session

    sim = simulate_session(SimConfig(seed=seed, duration_s=50, sway_mps2=4.0, pelvis_rate_hz=100.0,
                                     acc_noise_mps2=0.1, gyr_noise_radps=0.01, n_turns=0, trunk_rate_hz=None))
    d = sim.session.pelvis
    fs = d.sampling_rate_hz
    cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
    res = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
    run = d.time_s > cal.t_end_s + 1
    fwd, conf = forward_axis(res.quat[run], d.acc_mps2[run], cal.up_sensor, fs)
    assert _angle_deg(fwd, sim.mounts["pelvis"][0]) < 5.0
    assert conf > 0.8


def test_a_still_period_at_a_tilt_unlike_running_is_not_taken_for_standing(sim_short):
    from stridesense.imu.calibration import running_vertical

    d = sim_short.session.pelvis
    fs = d.sampling_rate_hz
    up = running_vertical(d.acc_mps2, fs)
    side = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    acc = d.acc_mps2.copy()
    still = d.time_s < 6.0  # the sensor lies on its side (on a table) before it is clipped on
    acc[still] = 9.81 * side / np.linalg.norm(side) + acc[still] - acc[still].mean(axis=0)
    assert standing_calibration(d.time_s, acc, d.gyr_radps, fs).from_standing  # without the check: taken
    with pytest.raises(CalibrationError):
        standing_calibration(d.time_s, acc, d.gyr_radps, fs, up_running=running_vertical(acc, fs))


@pytest.mark.parametrize("seed", [240, 241, 242])
def test_without_standing_the_horizontal_gyro_bias_is_found_from_running_to_a_milliradian(seed):
    from stridesense.imu.calibration import running_vertical
    from stridesense.models.simulator import SimConfig, simulate_session

    sim = simulate_session(SimConfig(seed=seed, duration_s=80, n_turns=0, trunk_rate_hz=None))
    d = sim.session.pelvis
    fs = d.sampling_rate_hz
    true_bias = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs).gyr_bias_radps  # from standing
    run = d.time_s > 10
    up = running_vertical(d.acc_mps2[run], fs)
    up /= np.linalg.norm(up)

    def horizontal(v):
        return v - np.dot(v, up) * up

    mean_rate = d.gyr_radps[run].mean(axis=0)  # what a mean would take for the bias (coning included)
    got = refine_gyro_bias(d.gyr_radps[run][:int(60 * fs)], d.acc_mps2[run][:int(60 * fs)], mean_rate, up * 9.81, fs)
    assert np.linalg.norm(horizontal(got - true_bias)) < 1e-3


def test_levelling_obliquity_zeroes_the_running_roll_and_keeps_the_pitch():
    from scipy.spatial.transform import Rotation

    from stridesense.imu.calibration import level_obliquity, segment_alignment
    from stridesense.models.segments import segment_angles

    # A sensor worn at an odd angle; standing gave an up axis 7 deg off in roll (weight on one leg).
    mount = Rotation.from_euler("zyx", [30, -20, 100], degrees=True).as_matrix()  # columns: segment axes, sensor
    hitched = mount @ Rotation.from_euler("x", 7, degrees=True).as_matrix()
    alignment = segment_alignment(hitched[:, 2], hitched[:, 0])
    # Running: the true segment pitched forward 5 deg, level in roll; the world-to-sensor attitude follows.
    world_from_segment = Rotation.from_euler("y", 5, degrees=True)
    world_from_sensor = world_from_segment * Rotation.from_matrix(mount.T)
    quat = np.roll(world_from_sensor.as_quat(), 1)[None, :]  # scalar first
    before = np.degrees(segment_angles(quat, alignment)[0])
    assert abs(before[2]) == pytest.approx(7.0, abs=0.3)
    after = np.degrees(segment_angles(quat, level_obliquity(alignment, before[2]))[0])
    assert after[2] == pytest.approx(0.0, abs=0.05)
    assert after[1] == pytest.approx(before[1], abs=0.3)
