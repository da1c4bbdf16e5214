import numpy as np

from stridesense.imu.vectors import row_norms


def test_row_norms_equal_numpy_linalg_norm_in_either_precision():
    v = np.random.default_rng(1).normal(0, 9.81, (1000, 3))
    for x in (v, v.astype(np.float32)):
        ours, ref = row_norms(x), np.linalg.norm(x, axis=1)
        assert ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=2 * np.finfo(x.dtype).eps)
