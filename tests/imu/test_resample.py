"""Uniform resampling: the compiled interpolation is np.interp's, bit for bit (np.interp is its reference)."""

import numpy as np

from stridesense.imu.data import SensorData
from stridesense.imu.resample import interpolate


def _reference(data: SensorData, grid_s: np.ndarray):
    acc = np.column_stack([np.interp(grid_s, data.time_s, data.acc_mps2[:, i]) for i in range(3)])
    gyr = np.column_stack([np.interp(grid_s, data.time_s, data.gyr_radps[:, i]) for i in range(3)])
    return acc, gyr


def _jittered(n: int, seed: int, dtype=np.float64) -> SensorData:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.002, 0.008, n)) + 100.0
    acc = rng.normal(0, 20, (n, 3)).astype(dtype)
    gyr = rng.normal(0, 5, (n, 3)).astype(dtype)
    return SensorData(time_s=t, acc_mps2=acc, gyr_radps=gyr, role="pelvis")


def test_interpolation_equals_np_interp_bit_for_bit_on_jittered_samples():
    data = _jittered(5000, 1)
    # Grid points between samples, on samples' exact times, before the first and after the last sample.
    grid = np.concatenate([[data.time_s[0] - 1.0], 100.0 + np.arange(0, 30, 1 / 200.0), data.time_s[::7],
                           [data.time_s[-1], data.time_s[-1] + 0.5]])
    grid.sort()
    for got, want in zip(interpolate(data, grid), _reference(data, grid)):
        assert got.shape == want.shape
        assert np.array_equal(got, want)


def test_interpolation_equals_np_interp_on_unsorted_grid_float32_values_and_nan():
    data = _jittered(800, 2, np.float32)
    data.acc_mps2[10, 1] = np.nan  # a missing value spreads over its two intervals, as np.interp does
    rng = np.random.default_rng(3)
    grid = rng.uniform(data.time_s[0] - 0.1, data.time_s[-1] + 0.1, 3000)
    grid[5] = np.nan
    for got, want in zip(interpolate(data, grid), _reference(data, grid)):
        assert np.array_equal(got, want, equal_nan=True)
