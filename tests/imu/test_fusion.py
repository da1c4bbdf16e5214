import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stridesense.models.segments import segment_angles

from stridesense.imu.calibration import segment_alignment, standing_calibration
from stridesense.imu.fusion import (
    OrientationFilter,
    half_sample_earlier,
    madgwick_imu,
    madgwick_imu_ahrs,
    quat_from_gravity,
    rotate,
    strapdown,
)


def test_compiled_madgwick_matches_ahrs_sample_by_sample():
    rng = np.random.default_rng(0)
    n = 3000
    gyr = rng.normal(0, 1.5, (n, 3))
    acc = rng.normal(0, 3, (n, 3)) + [0, 0, 9.81]
    q0 = np.array([0.9, 0.1, -0.2, 0.3])
    q0 /= np.linalg.norm(q0)
    ours = madgwick_imu(q0, gyr, acc, 1 / 200, 0.05)
    ref = madgwick_imu_ahrs(q0, gyr, acc, 1 / 200, 0.05)
    assert np.abs(ours - ref).max() < 1e-10


def test_strapdown_integrates_a_constant_rotation_exactly():
    fs, w = 200.0, 0.7
    gyr = np.tile([0.0, 0.0, w], (400, 1))
    q = strapdown(np.array([1.0, 0, 0, 0]), gyr, 1 / fs)
    angle = 2 * np.arctan2(q[-1, 3], q[-1, 0])
    assert angle == pytest.approx(w * 2.0, abs=1e-9)


def _pitch_oscillation(fs, seconds=3.0, amp_rad=np.radians(3.0), f_hz=2.9):
    """A segment at rest at t = 0 that then pitches A (1 - cos 2 pi f t): samples, rates at the samples, truth."""
    t = np.arange(int(seconds * fs)) / fs
    pitch = lambda tt: amp_rad * (1 - np.cos(2 * np.pi * f_hz * tt))
    rate = amp_rad * 2 * np.pi * f_hz * np.sin(2 * np.pi * f_hz * t)
    return t, pitch, np.column_stack([np.zeros_like(t), rate, np.zeros_like(t)])


@pytest.mark.parametrize("fs", [104.0, 200.0])
def test_gyro_orientation_half_a_sample_earlier_is_the_orientation_at_the_sample_time(fs):
    # The rate of sample i turns the orientation over the interval ending at i: the filter's q_i is the
    # segment's orientation about half a sample after t_i.  Truth: the analytic pitch of the motion.
    t, pitch, gyr = _pitch_oscillation(fs)
    q = strapdown(np.array([1.0, 0, 0, 0]), gyr, 1 / fs)
    got_raw = 2 * np.arctan2(q[:, 2], q[:, 0])
    got = half_sample_earlier(q)
    got_mid = 2 * np.arctan2(got[:, 2], got[:, 0])
    err_raw = np.abs(got_raw - pitch(t)).max()
    err_mid = np.abs(got_mid - pitch(t)).max()
    assert err_raw > np.radians(0.2) if fs < 150 else err_raw > np.radians(0.1)  # the lead it corrects
    assert err_mid < 0.1 * err_raw
    assert np.abs(got_raw - pitch(t + 0.5 / fs)).max() < 0.1 * err_raw


def test_half_sample_earlier_gives_the_same_in_chunks_as_whole():
    t, _, gyr = _pitch_oscillation(104.0)
    q = strapdown(np.array([1.0, 0, 0, 0]), gyr, 1 / 104.0)
    whole = half_sample_earlier(q)
    chunked = np.vstack([half_sample_earlier(q[:100]), half_sample_earlier(q[100:], q[99])])
    assert np.array_equal(whole, chunked)
    assert np.allclose(half_sample_earlier(q, -q[0])[0], half_sample_earlier(q[:1], q[0])[0])  # -q: the same


def test_quat_from_gravity_maps_measured_gravity_to_world_up():
    for g in ([0, 0, 9.8], [9.8, 0, 0], [0, -9.8, 0], [1, 2, -9], [0, 0, -9.8]):
        q = quat_from_gravity(np.array(g, float))
        up = rotate(q[None], np.array(g, float)[None])[0]
        assert up / np.linalg.norm(up) == pytest.approx([0, 0, 1], abs=1e-9)


def test_rotate_agrees_with_scipy():
    rng = np.random.default_rng(1)
    r = Rotation.random(50, random_state=2)
    v = rng.normal(size=(50, 3))
    q = r.as_quat(scalar_first=True)
    assert rotate(q, v) == pytest.approx(r.apply(v), abs=1e-12)
    assert rotate(q, v, inverse=True) == pytest.approx(r.inv().apply(v), abs=1e-12)


def test_rotate_applies_a_single_quaternion_or_vector_to_every_row():
    r = Rotation.random(20, random_state=3)
    q = r.as_quat(scalar_first=True)
    v = np.random.default_rng(2).normal(size=(20, 3))
    assert rotate(q, v[3]) == pytest.approx(r.apply(np.tile(v[3], (20, 1))), abs=1e-12)
    assert rotate(q[5], v) == pytest.approx(r[5].apply(v), abs=1e-12)
    assert rotate(q, v.astype(np.float32)) == pytest.approx(r.apply(v), abs=1e-6)
    with pytest.raises(ValueError, match="20 quaternions and 3 vectors"):
        rotate(q, v[:3])


def test_filter_gives_same_quaternions_in_chunks_as_whole(sim_short):
    d = sim_short.session.pelvis
    fs = d.sampling_rate_hz
    cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
    whole = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
    f = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, d.n), 40, replace=False))
    parts = [f.push(g, a) for g, a in zip(np.split(d.gyr_radps, cuts), np.split(d.acc_mps2, cuts))]
    chunked = np.concatenate([p.quat for p in parts])
    assert np.abs(chunked - whole.quat).max() < 1e-9


def test_tilt_error_under_running_impacts_is_below_half_a_degree(sim_straight):
    """Pitch and roll of the segment stay within 0.5 deg RMS of the truth while running."""
    for role in ("pelvis", "trunk"):
        d = getattr(sim_straight.session, role)
        fs = d.sampling_rate_hz
        cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
        res = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
        true_forward = sim_straight.mounts[role][0]  # segment x in sensor coordinates
        ang = segment_angles(res.quat, segment_alignment(cal.up_sensor, true_forward))
        truth = sim_straight.true_angles_rad(role, d.time_s)
        running = d.time_s > 10
        err = np.degrees(ang[running, 1:] - truth[running, 1:])
        assert np.sqrt(np.mean(err**2, axis=0)).max() < 0.5, role
        assert np.median(res.acc_error_deg[running]) > 10  # the raw accelerometer is no gravity reference
