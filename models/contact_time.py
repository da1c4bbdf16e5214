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
   the way from the floor to the stance peak (the middle of the edge, where
   a half sine is nearly straight) is extended down to the floor.  The
   floor is the step's lowest point of the low-passed signal, or 0 g (free
   fall) if it dips below: what the sensor shows while the body is in free
   fall - a sensor offset or a vertical estimated a little off adds to it,
   but not the sacrum's tail after toe-off, which has died out by then
   (reading the edge down to the flight's median, as the contact detector
   does, takes the tail for the floor);
3. the low-pass itself rounds the corner where stance meets flight and moves
   that line late (about 10 ms for a 230-ms half sine at 6 Hz).  That shift
   is the filter's, not the runner's: it is found by putting a half-sine
   stance of the step's own contact and flight times through the same
   filter and reading (`filter_shift_s`), and taken off.  Nothing is fitted
   to data.

Where the contact detector's own toe-off (imu.events: the edge of a 25-Hz
signal extended to the level seen in flight, sharper) agrees with this one
within ``AGREE_S``, the edge is clean - the sensor moves with the centre of
mass at toe-off, as on both simulators, where the two differ by 1.5-2.5 ms -
and the sharper one is kept (`combine`; blended between ``AGREE_S`` and twice that, so
the choice has no jump).  On the force treadmill's sacral
signals they differ by 25-110 ms (2 % of steps within 10 ms).

The toe-off must fall within the step (flight >= 0) and leave a stance of
at least ``MIN_STANCE_S``; otherwise it is not placed (NaN) and the step is
flagged ``toe_off_unplaced`` rather than given a guess.

Why contact time still depends on speed on the force treadmill (-16 / -3 /
+6 ms at 2.5 / 3.3 / 4.2 m/s; ``benchmarks/forceplate.py --why``): not the
low-pass nor this model.  Read with the same methods on the force plate's
own force (a perfect centre-of-mass signal), the model's share is -1.5 to
-4 ms at every speed, but the contacts come out 25 / 14 / 13 ms short of the
reference's 0.05-BW contacts: the runner's force leaves and meets the ground
through slow toes (heel strike and push-off, longest at 2.5 m/s) that a line
through the middle of an edge does not see.  The sacrum adds +9 / +11 / +19
ms (its wave is wider than the force's, more so at speed).  Part of that is
the floor: the 6-Hz wave's lowest point on the sacrum is 0.13-0.39 g above
where half-sine stances through the same filter dip (-0.07 to -0.25 g,
clipped to 0 here), so the reading's floor and the model's differ, moving
every toe-off ~8 ms late.  A floor made consistent (the sacrum's lowest
point less the model's dip) reads toe-off on the sacrum as the same line
reads it on the force itself (within 2 ms per speed, 7 ms at +10 deg; alike
for edge levels 0.3-0.1 to 0.6-0.35) but then shows the force's own toes:
contact time -24 / -11 / -4 ms, RMSE 17 ms (12.5 now), so it is not used.
What remains is two properties of one runner's signals (the shape of his
force, his sacrum's motion relative to his centre of mass) that a shape
constant fitted to these trials would only move from one speed to another.
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
AGREE_S = 0.010  # above the two reads' disagreement on a clean edge (<= 3 ms), below a sacral tail's 30-60 ms


@numba.njit(cache=True, nogil=True)
def _falling_crossing(t, x, i0, i1, level):
    """Time of the first fall of ``x`` below ``level`` in [i0, i1) (linear), or NaN."""
    for i in range(i0, i1 - 1):
        if x[i] >= level > x[i + 1]:
            return t[i] + (x[i] - level) / (x[i] - x[i + 1]) * (t[i + 1] - t[i])
    return np.nan


@numba.njit(cache=True, nogil=True)
def _toe_offs(t, x_g, i_ic, i_next, ic, nxt, hi, lo, out, raw):
    """Per step: toe-off from the falling edge of ``x_g`` (low-passed, in g) extended to 0 g, or NaN.

    ``hi``, ``lo``: the edge's levels as fractions of the stance peak.  ``raw``: keep the line's
    crossing wherever it falls (the filter's model); else only a stance of ``MIN_STANCE_S`` or more
    ending before the next contact (with 50 ms for the filter's shift, which is taken off later).
    """
    n = t.size
    for k in range(i_ic.size):
        a, b = i_ic[k], min(i_next[k], n)
        out[k] = np.nan
        if b - a < 3:
            continue
        ip = a + int(np.argmax(x_g[a:b]))
        peak = x_g[ip]
        # The floor the stance wave rides on: the step's lowest point, where it is above free fall.
        base = max(np.min(x_g[a:b]), 0.0)
        if peak <= base:
            continue
        t_hi = _falling_crossing(t, x_g, ip, b, base + hi * (peak - base))
        t_lo = _falling_crossing(t, x_g, ip, b, base + lo * (peak - base))
        if not (t_lo > t_hi):
            continue
        to = t_lo + (t_lo - t_hi) * lo / (hi - lo)
        if raw or ic[k] + MIN_STANCE_S <= to <= nxt[k] + 0.05:
            out[k] = to


# The filter's shift scales with time: tabulated over cut-off x contact time (6 Hz: 0.12-0.67 s of
# contact) and flight / contact time (denser where short flights change it fast), in contact times.
_DUTY_GRID = np.linspace(0.7, 4.0, 23)
_FLIGHT_GRID = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 1.6, 2.0])
_MODEL_RATE = 40.0  # samples per 1/cut-off: 240 Hz at 6 Hz, plenty for a 6-Hz wave


def _model_shifts(hi: float, lo: float) -> np.ndarray:
    """Shift of the read toe-off, in contact times, for trains of half-sine stances through the low-pass.

    One train per grid point (rows), all filtered at once; time in units of 1/cut-off (the shift in
    contact times depends on cut-off x contact time only).
    """
    d, r = (g.ravel() for g in np.meshgrid(_DUTY_GRID, _FLIGHT_GRID, indexing="ij"))
    period = d * (1.0 + r)
    t = np.arange(0.0, 4 * period.max(), 1.0 / _MODEL_RATE)
    phase = t[None, :] % period[:, None]
    f = np.where(phase < d[:, None], np.sin(np.pi * np.minimum(phase / d[:, None], 1.0)), 0.0)
    x = sosfiltfilt(butter(4, 1.0, fs=_MODEL_RATE, output="sos"), f, axis=1)
    out = np.empty(d.size)
    for k in range(d.size):
        ic = np.array([2 * period[k]])
        one = np.empty(1)
        _toe_offs(t, x[k], np.searchsorted(t, ic), np.searchsorted(t, ic + period[k]), ic, ic + period[k], hi, lo,
                  one, True)
        out[k] = (one[0] - (2 * period[k] + d[k])) / d[k]
    return out.reshape(_DUTY_GRID.size, _FLIGHT_GRID.size)


@lru_cache(maxsize=8)
def _shift_table(hi: float, lo: float):
    from scipy.interpolate import RegularGridInterpolator

    return RegularGridInterpolator((_DUTY_GRID, _FLIGHT_GRID), _model_shifts(hi, lo))


def filter_shift_s(contact_s: np.ndarray, flight_s: np.ndarray, *, cutoff_hz: float = STANCE_CUTOFF_HZ,
                   edge: tuple[float, float] = (EDGE_HI, EDGE_LO)) -> np.ndarray:
    """How late the low-pass moves the read toe-off of a half-sine stance with these times, s.

    NaN for a contact shorter than 0.7 / ``cutoff_hz`` (the filter then blurs the stance away).
    """
    tc = np.asarray(contact_s, float)
    d = tc * cutoff_hz
    r = np.clip(np.asarray(flight_s, float) / tc, _FLIGHT_GRID[0], _FLIGHT_GRID[-1])
    ok = np.isfinite(d) & np.isfinite(r) & (d >= _DUTY_GRID[0])
    out = np.full(tc.shape, np.nan)
    out[ok] = _shift_table(*edge)(np.column_stack([np.minimum(d[ok], _DUTY_GRID[-1]), r[ok]])) * tc[ok]
    return out


def toe_off_s(time_s: np.ndarray, f_vert_stance_g: np.ndarray, ic_s: np.ndarray, next_ic_s: np.ndarray, *,
              cutoff_hz: float = STANCE_CUTOFF_HZ, edge: tuple[float, float] = (EDGE_HI, EDGE_LO)) -> np.ndarray:
    """Toe-off of each step, or NaN where it cannot be placed within the step.

    Parameters
    ----------
    time_s
        (n,) uniform sample times, s.
    f_vert_stance_g
        (n,) vertical specific force low-passed at ``cutoff_hz`` (4th-order zero-phase Butterworth), g.
    ic_s, next_ic_s
        (m,) each step's initial contact and the next one, s.
    cutoff_hz, edge
        The low-pass' cut-off and the edge's levels (fractions of the stance peak); the module's
        constants unless checked against others (benchmarks/forceplate.py --loco).

    Returns
    -------
    (m,) toe-off times, s (NaN: not placed).
    """
    ic, nxt = np.asarray(ic_s, float), np.asarray(next_ic_s, float)
    read = np.empty(ic.size)
    _toe_offs(time_s, np.ascontiguousarray(f_vert_stance_g, dtype=float), np.searchsorted(time_s, ic),
              np.searchsorted(time_s, nxt), ic, nxt, float(edge[0]), float(edge[1]), read, False)
    shift = lambda to: filter_shift_s(to - ic, nxt - to, cutoff_hz=cutoff_hz, edge=edge)
    to = read - shift(read)
    # The shift depends on the times it corrects: once more with the corrected ones.
    to = read - shift(to)
    placed = (to >= ic + MIN_STANCE_S) & (to <= nxt)
    return np.where(placed, to, np.nan)


def combine(edge_to_s: np.ndarray, wave_to_s: np.ndarray, ic_s: np.ndarray, next_ic_s: np.ndarray) -> np.ndarray:
    """The contact detector's toe-off where it agrees with the stance wave's within ``AGREE_S``, else the wave's.

    Between ``AGREE_S`` and twice that, the two are blended linearly (the detector's weight falling from 1 to
    0), so that a disagreement moving across the threshold moves the toe-off by no more than itself: a hard
    switch made a step's contact time jump by ~10 ms between two recordings of the same run (live and
    offline, Bluetooth and file) that differed by a millisecond.  NaN stays NaN (not placed); the detector's
    toe-off must also lie within the step.
    """
    edge, wave = np.asarray(edge_to_s, float), np.asarray(wave_to_s, float)
    inside = (edge >= np.asarray(ic_s) + MIN_STANCE_S) & (edge <= np.asarray(next_ic_s))
    with np.errstate(invalid="ignore"):
        weight = np.clip(2.0 - np.abs(edge - wave) / AGREE_S, 0.0, 1.0)
    weight = np.where(inside & np.isfinite(weight), weight, 0.0)
    return np.where(weight > 0.0, weight * edge + (1.0 - weight) * wave, wave)
