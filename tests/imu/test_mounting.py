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
