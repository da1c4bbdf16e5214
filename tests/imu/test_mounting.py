"""Posture-jump statistics: the many-blocks form against the one-block definition."""

import numpy as np

from stridesense.imu import mounting


def test_posture_shifts_for_many_blocks_equal_the_one_block_definition():
    rng = np.random.default_rng(3)
    m = 400
    blocks = np.column_stack([
        np.where((np.arange(m) >= 50) & (np.arange(m) < 55), 5.0, 200.0),  # samples per block: a gap
        rng.normal(0.1, 0.01, m), rng.normal(0.0, 0.01, m),  # mean pitch, roll
        np.where((np.arange(m) >= 300) & (np.arange(m) < 310), 0.5, 3.0),  # SD of |f|: a stop
        np.cumsum(rng.normal(0, 0.02, m)), np.cumsum(rng.normal(0, 0.02, m)),  # first / last yaw
    ])
    blocks[150:, 1] += 0.3  # a slip
    ms = np.arange(-5, m + 5)
    many = mounting.posture_shifts_blocks(blocks, ms)
    for k, mm in enumerate(ms):
        one = mounting.posture_shift_blocks(blocks, int(mm)) if 0 <= mm else None
        if one is None:
            assert np.isnan(many[k]), mm
        else:
            assert many[k] == np.float64(one) or abs(many[k] - one) < 1e-9, mm
    assert np.nanmax(many) > mounting.SHIFT_DEG


def _swaying_sensor(knock: bool, fs: float = 200.0):
    """A sensor swaying at stride frequency (1.4 Hz, 8 deg) with impacts; with a 25-Hz rattle at 20 s if knocked."""
    from scipy.spatial.transform import Rotation

    t = np.arange(0, 40, 1 / fs)
    angle = np.radians(8) * np.sin(2 * np.pi * 1.4 * t)
    if knock:
        tau = np.clip(t - 20.0, 0, None)
        angle = angle + np.radians(1.0) * (t >= 20) * np.exp(-tau / 0.03) * np.sin(2 * np.pi * 25 * tau)
    q = Rotation.from_rotvec(np.outer(angle, [0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3])).as_quat()
    quat = q[:, [3, 0, 1, 2]]  # [w, x, y, z]
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 9.81 + 15 * np.exp(-((t % (1 / 2.8)) / 0.02) ** 2)  # an impact every step
    return t, quat, acc, fs


def test_a_knock_is_a_jolt_and_a_strides_own_sway_and_impacts_are_not():
    t, quat, acc, fs = _swaying_sensor(knock=True)
    assert mounting.jolt_ratio(t, quat, acc, 20.3, fs) > mounting.JOLT_RATIO
    assert mounting.jolt_ratio(t, quat, acc, 20.3 + 3 * mounting.JOLT_NEAR_S, fs) < mounting.JOLT_RATIO  # too far
    t, quat, acc, fs = _swaying_sensor(knock=False)
    assert mounting.jolt_ratio(t, quat, acc, 20.3, fs) < mounting.JOLT_RATIO
