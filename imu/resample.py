"""Uniform sampling on the session clock, with gaps kept visible.

Devices jitter and drop packets; filters want a uniform rate.  Samples are
interpolated linearly onto ``t0 + k / rate`` (stridesense.pipeline.SensorTrack).  A hole longer than
``max(3 samples, 30 ms)`` is a *gap*: it is bridged so that recursive filters
keep going, but its interval is returned so that every step touching it is
flagged, never silently trusted.
"""

from __future__ import annotations

import numba
import numpy as np

from stridesense.imu.data import SensorData


def find_gaps(time_s: np.ndarray, rate_hz: float) -> list[tuple[float, float]]:
    """Intervals ``(start_s, end_s)`` where samples are missing."""
    limit = max(3.0 / rate_hz, 0.03)
    dt = np.diff(time_s)
    idx = np.flatnonzero(dt > limit)
    return [(float(time_s[i]), float(time_s[i + 1])) for i in idx]


def uniform_grid(t_first: float, t_last: float, rate_hz: float, start_index: int = 0) -> np.ndarray:
    """Grid times ``t_first + k / rate`` for k from ``start_index`` up to ``t_last``."""
    n_total = int(np.floor((t_last - t_first) * rate_hz + 1e-9)) + 1
    return t_first + np.arange(start_index, n_total) / rate_hz


def interpolate(data: SensorData, grid_s: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Acceleration and angular rate linearly interpolated at ``grid_s``.

    Bit for bit ``np.interp`` of each column (tests/imu/test_resample.py), with one search of the sample
    times for all three columns: a whole hour is interpolated twice per sensor offline.
    """
    def columns(values: np.ndarray) -> np.ndarray:
        if data.time_s.size < 2:
            return np.column_stack([np.interp(grid_s, data.time_s, values[:, i]) for i in range(3)])
        out = np.empty((grid_s.size, 3))
        _interp_columns(np.ascontiguousarray(grid_s, dtype=float), np.ascontiguousarray(data.time_s, dtype=float),
                        np.ascontiguousarray(values, dtype=float), out)
        return out

    acc = columns(data.acc_mps2)
    gyr = columns(data.gyr_radps) if data.gyr_radps is not None else None
    return acc, gyr


@numba.njit(cache=True, nogil=True)
def _interp_columns(x, xp, fp, out):
    # np.interp's own steps (numpy/_core/src/multiarray/compiled_base.c, arr_interp) for each column of fp:
    # the interval j with xp[j] <= x < xp[j + 1] (searched from the previous one), the end values outside,
    # the sample's own value on a sample, else slope * (x - xp[j]) + fp[j] (the other end's form if NaN).
    m = xp.size
    j = 0
    for i in range(x.size):
        xv = x[i]
        if np.isnan(xv):
            out[i, :] = xv
            continue
        if xv < xp[0]:
            out[i, :] = fp[0, :]
            continue
        if xv > xp[m - 1]:
            out[i, :] = fp[m - 1, :]
            continue
        while j > 0 and xp[j] > xv:
            j -= 1
        while j + 1 < m and xp[j + 1] <= xv:
            j += 1
        if j == m - 1 or xp[j] == xv:
            out[i, :] = fp[j, :]
            continue
        for c in range(fp.shape[1]):
            slope = (fp[j + 1, c] - fp[j, c]) / (xp[j + 1] - xp[j])
            v = slope * (xv - xp[j]) + fp[j, c]
            if np.isnan(v):
                v = slope * (xv - xp[j + 1]) + fp[j + 1, c]
                if np.isnan(v) and fp[j, c] == fp[j + 1, c]:
                    v = fp[j, c]
            out[i, c] = v
