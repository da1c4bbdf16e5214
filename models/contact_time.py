"""Toe-off and contact time from a sacral sensor that is not the centre of mass.

At toe-off the ground reaction force reaches zero: the centre of mass is in
free fall and its vertical specific force is 0 g.  A sensor on the sacrum
sees more than that: soft tissue that rings after the impact, pelvic
rotation, and after toe-off a slow tail (on a force treadmill the sacral
signal stays at 0.2-0.5 g for 30-60 ms after the force has reached zero), so
an edge extrapolated to the level seen in flight lands too late: contact
time +33 ms bias, 72 ms RMSE on the real trials of benchmarks/forceplate.py.

Here the falling edge is read where it is steep and still the body's:

1. the vertical specific force is low-passed at ``STANCE_CUTOFF_HZ`` (6 Hz):
   above it lie the impact transient and the soft-tissue ringing of the
   sacrum (10-20 Hz; Wakeling & Nigg 2001, J Appl Physiol 90:412 for soft
   tissue in running), below it the stance wave (a half sine of 0.15-0.3 s,
   whose spectrum is within 1.5/tc = 5-10 Hz) - so the cut-off separates the
   two on physical grounds, with the stance's slow part kept;
2. the line through its falling crossings of ``EDGE_HI`` and ``EDGE_LO`` of
   the stance peak (the middle of the edge, where a half sine is nearly
   straight) is extended down to 0 g, the free-fall level, not to the level
   the sensor shows in flight.

3. the low-pass itself rounds the corner where stance meets flight and moves
   that line late (about 10 ms for a 230-ms half sine at 6 Hz).  That shift
   is the filter's, not the runner's: it is found by putting a half-sine
   stance of the step's own contact and flight times through the same
   filter and reading (`filter_shift`), and taken off.  Nothing is fitted
   to data.

The toe-off must fall within the step (flight >= 0) and leave a stance of
at least ``MIN_STANCE_S``; otherwise it is not placed (NaN) and the step is
flagged ``toe_off_unplaced`` rather than given a guess.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from scipy.signal import butter, sosfiltfilt

STANCE_CUTOFF_HZ = 6.0
EDGE_HI, EDGE_LO = 0.6, 0.35  # fractions of the stance peak (0 g = free fall)
MIN_STANCE_S = 0.08  # shortest running stance (imu.events)
UNPLACED_FLAG = "toe_off_unplaced"


@numba.njit(cache=True, nogil=True)
def _falling_crossing(t, x, i0, i1, level):
    """Time of the first fall of ``x`` below ``level`` in [i0, i1) (linear), or NaN."""
    for i in range(i0, i1 - 1):
        if x[i] >= level > x[i + 1]:
            return t[i] + (x[i] - level) / (x[i] - x[i + 1]) * (t[i + 1] - t[i])
    return np.nan


@numba.njit(cache=True, nogil=True)
def _toe_offs(t, x_g, i_ic, i_next, ic, nxt, out, raw):
    """Per step: toe-off from the falling edge of ``x_g`` (low-passed, in g) extended to 0 g, or NaN.

    ``raw``: the line's crossing as it is, wherever it falls (for the filter's model).
    """
    n = t.size
    for k in range(i_ic.size):
        a, b = i_ic[k], min(i_next[k], n)
        out[k] = np.nan
        if b - a < 3:
            continue
        ip = a + int(np.argmax(x_g[a:b]))
        peak = x_g[ip]
        if peak <= 0:
            continue
        t_hi = _falling_crossing(t, x_g, ip, b, EDGE_HI * peak)
        t_lo = _falling_crossing(t, x_g, ip, b, EDGE_LO * peak)
        if not (t_lo > t_hi):
            continue
        to = t_lo + (t_lo - t_hi) * EDGE_LO / (EDGE_HI - EDGE_LO)
        if raw or ic[k] + MIN_STANCE_S <= to <= nxt[k] + 0.05:
            out[k] = to


_DUTY_GRID = np.linspace(0.4, 4.0, 37)  # cut-off x contact time (6 Hz: 0.07-0.67 s)
_FLIGHT_GRID = np.linspace(0.0, 2.0, 21)  # flight / contact time


def _model_toe_off(cutoff_x_contact: float, flight_per_contact: float, fs: float = 1000.0) -> float:
    """Shift of the read toe-off, in contact times, for a train of half-sine stances (unit contact time)."""
    tc = 1.0 / STANCE_CUTOFF_HZ * cutoff_x_contact  # seconds, at the module's cut-off
    period = tc * (1.0 + flight_per_contact)
    t = np.arange(0.0, 5 * period, 1.0 / fs)
    phase = t % period
    f = np.where(phase < tc, np.sin(np.pi * np.minimum(phase, tc) / tc), 0.0)
    x = sosfiltfilt(butter(4, STANCE_CUTOFF_HZ, fs=fs, output="sos"), f)
    ic = np.array([2 * period])
    out = np.empty(1)
    _toe_offs(t, x, np.searchsorted(t, ic), np.searchsorted(t, ic + period), ic, ic + period, out, True)
    return (out[0] - (2 * period + tc)) / tc


@lru_cache(maxsize=1)
def _shift_table() -> np.ndarray:
    return np.array([[_model_toe_off(d, r) for r in _FLIGHT_GRID] for d in _DUTY_GRID])


def filter_shift_s(contact_s: np.ndarray, flight_s: np.ndarray) -> np.ndarray:
    """How late the low-pass moves the read toe-off of a half-sine stance with these times, s."""
    from scipy.interpolate import RegularGridInterpolator

    tc = np.asarray(contact_s, float)
    d = np.clip(tc * STANCE_CUTOFF_HZ, _DUTY_GRID[0], _DUTY_GRID[-1])
    r = np.clip(np.asarray(flight_s, float) / tc, _FLIGHT_GRID[0], _FLIGHT_GRID[-1])
    table = RegularGridInterpolator((_DUTY_GRID, _FLIGHT_GRID), _shift_table())
    ok = np.isfinite(d) & np.isfinite(r)
    out = np.full(tc.shape, np.nan)
    out[ok] = table(np.column_stack([d[ok], r[ok]])) * tc[ok]
    return out


def toe_off_s(time_s: np.ndarray, f_vert_stance_g: np.ndarray, ic_s: np.ndarray, next_ic_s: np.ndarray) -> np.ndarray:
    """Toe-off of each step, or NaN where it cannot be placed within the step.

    Parameters
    ----------
    time_s
        (n,) uniform sample times, s.
    f_vert_stance_g
        (n,) vertical specific force low-passed at ``STANCE_CUTOFF_HZ``, g.
    ic_s, next_ic_s
        (m,) each step's initial contact and the next one, s.

    Returns
    -------
    (m,) toe-off times, s (NaN: not placed).
    """
    ic, nxt = np.asarray(ic_s, float), np.asarray(next_ic_s, float)
    read = np.empty(ic.size)
    _toe_offs(time_s, np.ascontiguousarray(f_vert_stance_g, dtype=float), np.searchsorted(time_s, ic),
              np.searchsorted(time_s, nxt), ic, nxt, read, False)
    to = read - filter_shift_s(read - ic, nxt - read)
    # The shift depends on the times it corrects: once more with the corrected ones.
    to = read - filter_shift_s(to - ic, nxt - to)
    placed = (to >= ic + MIN_STANCE_S) & (to <= nxt)
    return np.where(placed, to, np.nan)
