"""Uniform sampling on the session clock, with gaps kept visible.

Devices jitter and drop packets; filters want a uniform rate.  Samples are
interpolated linearly onto ``t0 + k / rate`` (stridesense.pipeline.SensorTrack).  A hole longer than
``max(3 samples, 30 ms)`` is a *gap*: it is bridged so that recursive filters
keep going, but its interval is returned so that every step touching it is
flagged, never silently trusted.
"""

from __future__ import annotations

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
    """Acceleration and angular rate linearly interpolated at ``grid_s``."""
    acc = np.column_stack([np.interp(grid_s, data.time_s, data.acc_mps2[:, i]) for i in range(3)])
    gyr = None
    if data.gyr_radps is not None:
        gyr = np.column_stack([np.interp(grid_s, data.time_s, data.gyr_radps[:, i]) for i in range(3)])
    return acc, gyr
