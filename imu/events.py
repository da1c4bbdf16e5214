"""Initial contact, toe-off and stance side from a pelvis (sacrum) sensor.

Stance is when the ground pushes: the vertical specific force of the pelvis
rises from near 0 g in flight to 2-3 g.  Each stance's rising and falling
edges are located by linear extrapolation of the steep part of the edge
back to the flight level (the line through the crossings of 15 % and 45 % of
the way from the flight level to the stance peak), which is robust to a
pelvis that is not in exact free fall and to soft-tissue wobble after
contact.

A narrow impact transient (20-30 ms) makes the force rise in two flanks with
a shoulder between them; the line through 15 % and 45 % spans the shoulder
and lands 5-15 ms early.  So initial contact is also read on the first flank
alone: the line through the crossings of 10 % of the way to the peak either
side of the level where that flank is steepest (its steepest sample pair,
located between samples by a parabola) - level crossings, not a slope
between two samples, so 1 ms of timing jitter moves it no more than the line
(``benchmarks/jitter.py``; a tangent on the steepest pair itself was three
times as sensitive).  On a clean rise the two reads agree within about 1 ms
(95th percentile on the tuning seeds; both simulators); where the first
flank's read is later by more than ``SHOULDER_FROM_S``, contact moves towards
it, by a quadratic ramp up to ``SHOULDER_FULL_S`` and one for one beyond
(:func:`_shoulder_shift`): the move never grows faster than the disagreement,
so neither a jump nor a larger jitter (a linear blend between the two reads
amplified it in the ramp), at the price of staying 1.75 ms short of the
first flank's read on a narrow impact.

Which leg: two cues of the stance leg, each taken relative to its
neighbours' (the step-to-step alternation, not the slowly varying level),
normalised and summed, then strict left/right alternation within each
continuous bout decides the assignment by majority:

* medio-lateral acceleration towards the midline (Lee's cue): -y in left stance;
* pelvic obliquity with the swing side lower (pelvic drop): + roll in left stance.

Pelvis axial rotation in stance is left out: its sign was opposite to the
textbook's on the real jogging trials and on the external simulator, and
the project's simulator has the textbook's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from scipy.signal import butter, sosfiltfilt

from stridesense.imu.calibration import runs_of
from stridesense.imu.consts import GRAVITY_MPS2

STANCE_CORE_G = 1.5  # every running stance passes this (>= 1.8 g even at 2 m/s); walking peaks at 1.1-1.4 g
FLIGHT_G = 0.45  # and between two stances the force falls below this (walking stays above ~0.7 g)
EDGE_LO, EDGE_HI = 0.15, 0.45
FLANK_FROM = 0.05  # the first flank is sought from this fraction of the way to the peak
FLANK_HALF_SPAN = 0.10  # its line: crossings this fraction of the way to the peak either side of its steepest level
# Where the first flank's read is later than the two-level line: ramp from / one for one beyond (s). From: the two
# agree within this on clean rises (95th percentile 0.4-1.5 ms on tuning seeds 100-119, median 0-1.1); up to:
# narrow impacts put them 3-12 ms apart (seeds 11, 20, 27).
SHOULDER_FROM_S, SHOULDER_FULL_S = 0.001, 0.0025
# Contacts are timed on the force low-passed at this (cores and peaks at 25 Hz). Chosen with the steepest-
# point tangent since taken out (tuning seeds 100-119 with 25-ms impacts, IC median 5.6 ms at 25 Hz, 3.9 at
# 30, 1.5 at 40; at 40 Hz the external simulator and force plate ~3 ms late). With the two-level line and the
# first flank's read now: external simulator IC median 0.5 ms, force treadmill IC bias +0.3 ms; the first flank's
# read at 40 Hz would be 2-3 ms nearer a narrow impact's contact but 10-20 % more sensitive to timing jitter.
EDGE_CUTOFF_HZ = 30.0
MIN_STANCE_S, MAX_STANCE_S = 0.08, 0.45
MAX_STEP_S = 0.6  # Kiernan et al. 2023: step frequency >= 1.67 Hz when running
MIN_STEP_S = 0.2  # 300 steps/min: no runner steps faster; two stance cores closer than this are one stance
# A contact found in a signal that runs this far past its initial contact is final: more samples do not
# move it.  Its stance (<= MAX_STANCE_S) and the flight after it are in, and the zero-phase low-pass's edge
# transient has decayed (tests/imu/test_events.py: identical at 1.0 s, 1e-13 s off at 0.7 s, 1 ms at 0.3 s).
# The live view's latency rests on it: a step's row can come out this soon after its stride ends.
CONTACT_SETTLE_S = 1.0


@dataclass
class ContactEvents:
    """Stances found in the pelvis signal, session clock.

    Attributes
    ----------
    ic_s, to_s
        Initial contact and toe-off of each stance, s.
    peak_g
        Peak vertical specific force of each stance, g.
    edge_ok
        False where an edge could not be fitted cleanly (low confidence).
    flight_after
        False for a stance with no flight after it (the run stops, or walking
        follows): its contact ends the previous step but starts no running step.
    """

    ic_s: np.ndarray
    to_s: np.ndarray
    peak_g: np.ndarray
    edge_ok: np.ndarray
    flight_after: np.ndarray


@lru_cache(maxsize=64)
def _butter_sos(order: int, cutoff_hz: float, sampling_rate_hz: float) -> np.ndarray:
    return butter(order, cutoff_hz, fs=sampling_rate_hz, output="sos")


def lowpass(x: np.ndarray, cutoff_hz: float, sampling_rate_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (cut-off capped below Nyquist)."""
    cutoff = min(cutoff_hz, 0.45 * sampling_rate_hz)
    return sosfiltfilt(_butter_sos(order, float(cutoff), float(sampling_rate_hz)), x, axis=0)


def detect_contacts(time_s: np.ndarray, f_vert_mps2: np.ndarray, sampling_rate_hz: float) -> ContactEvents:
    """Find every stance in the pelvis' vertical specific force.

    Parameters
    ----------
    time_s
        (n,) uniform sample times, s.
    f_vert_mps2
        (n,) vertical specific force of the pelvis in the world frame
        (about +9.81 standing, about 0 in flight), m/s^2.
    sampling_rate_hz
        Sample rate, Hz.
    """
    g = GRAVITY_MPS2
    f = lowpass(f_vert_mps2, 25.0, sampling_rate_hz) / g
    runs = np.array(runs_of(f > STANCE_CORE_G), dtype=np.int64).reshape(-1, 2)
    runs = runs[(runs[:, 1] - runs[:, 0]) / sampling_rate_hz >= 0.02]
    # Merge cores not separated by a flight (wobble can split one stance): a
    # core joins the one before when f stays above FLIGHT_G all through the gap.
    joins = np.zeros(0, dtype=bool)
    if len(runs) > 1:
        gap_min = np.minimum.reduceat(f, np.column_stack([runs[:-1, 1], runs[1:, 0]]).ravel())[::2]
        joins = gap_min > FLIGHT_G
    cores = np.column_stack([runs[np.r_[True, ~joins], 0], runs[np.r_[~joins, True], 1]]) if len(runs) else runs
    cores = _merge_close_cores(cores, int(MIN_STEP_S * sampling_rate_hz))
    f_edge = lowpass(f_vert_mps2, EDGE_CUTOFF_HZ, sampling_rate_hz) / g
    out = _stances(time_s, f, f_edge, np.ascontiguousarray(cores), float(sampling_rate_hz))
    keep = out[:, 5] > 0
    return ContactEvents(out[keep, 0], out[keep, 1], out[keep, 2], out[keep, 3] > 0, out[keep, 4] > 0)


def _merge_close_cores(cores: np.ndarray, min_step: int) -> np.ndarray:
    """Join a core to the one before when it starts less than a shortest step after it, within half that of its end.

    On real hip signals a stance is sometimes split by a short dip below the
    flight level: two "contacts" 0.1 s apart would break the left/right
    alternation of everything after them.

    Returns
    -------
    (k, 4): start, end, the end of the first core joined and the start of the
    last (the contact is timed on the first, the toe-off on the last).
    """
    out = [[a, b, b, a] for a, b in cores[:1]]
    for a, b in cores[1:]:
        if a - out[-1][0] < min_step and a - out[-1][1] < min_step // 2:
            out[-1][1], out[-1][3] = b, a
        else:
            out.append([a, b, b, a])
    return np.array(out, dtype=np.int64).reshape(-1, 4)


@numba.njit(cache=True, nogil=True)
def _stances(time_s, f, f_edge, cores, fs):
    """Per stance core: (ic, to, peak, ok, flight_after, kept); compiled, an hour has ~10,000 stances."""
    n = f.size
    m = cores.shape[0]
    out = np.zeros((m, 6))
    for j in range(m):
        i0, i1 = cores[j, 0], cores[j, 1]
        lo_bound = cores[j - 1, 1] if j > 0 else max(0, i0 - int(0.3 * fs))
        hi_bound = cores[j + 1, 0] if j + 1 < m else min(n - 1, i1 + int(0.3 * fs))
        pre, post = f[lo_bound:i0], f[i1:hi_bound]
        if pre.size < 2 or pre.min() > FLIGHT_G:
            continue  # no flight before: walking, standing up, or the data's edge
        # The last stance of a run has no flight after it: its contact still
        # ends the previous step, but its toe-off is not to be trusted.
        flight_after = post.size >= 2 and post.min() <= FLIGHT_G
        peak_i = i0 + int(np.argmax(f[i0:i1]))
        peak = f[peak_i]
        # A stance joined from split cores: its contact is timed on the first, its toe-off on the last.
        rise_i = i0 + int(np.argmax(f[i0:cores[j, 2]]))
        fall_i = cores[j, 3] + int(np.argmax(f[cores[j, 3]:i1]))
        # Flight level: the lower part of the neighbouring flights.
        b0 = np.median(pre[pre <= FLIGHT_G])
        b1 = np.median(post[post <= FLIGHT_G]) if flight_after else b0
        ic, ok_ic = _edge_kernel(time_s, f_edge, rise_i, lo_bound, b0, f[rise_i], True)
        if ok_ic:
            flank = _first_flank_ic(time_s, f_edge, rise_i, lo_bound, b0, f[rise_i])
            if np.isfinite(flank):
                ic += _shoulder_shift(flank - ic)
        to, ok_to = _edge_kernel(time_s, f, fall_i, hi_bound, b1, f[fall_i], False)
        if not (MIN_STANCE_S <= to - ic <= MAX_STANCE_S):
            ok_ic = ok_to = False
        out[j, 0], out[j, 1], out[j, 2] = ic, to, peak
        out[j, 3] = 1.0 if (ok_ic and ok_to) else 0.0
        out[j, 4] = 1.0 if flight_after else 0.0
        out[j, 5] = 1.0
    return out


@numba.njit(cache=True, nogil=True)
def _edge_kernel(t, f, peak_i, bound, base, peak, rising):
    """Extrapolate one edge of a stance to the flight level: (time, fitted cleanly).

    Walking out from the peak (back in time for the rising edge, forward for
    the falling one), the nearest crossings of the 45 % and then the 15 %
    level define the line that is extended down to the flight level.
    """
    lo = base + EDGE_LO * (peak - base)
    hi = base + EDGE_HI * (peak - base)
    j_hi = -1
    j_lo = -1
    if rising:
        a0, a1 = max(bound, 0), peak_i  # pairs (a, a + 1) for a in [a0, a1)
        fallback = t[a0]
        for a in range(a1 - 1, a0 - 1, -1):
            if f[a] < hi <= f[a + 1]:
                j_hi = a
                break
        if j_hi >= 0:
            for a in range(j_hi, a0 - 1, -1):
                if f[a] < lo <= f[a + 1]:
                    j_lo = a
                    break
    else:
        a0, a1 = peak_i, min(bound, f.size - 1)
        fallback = t[a1]
        for a in range(a0, a1):
            if f[a] >= hi > f[a + 1]:
                j_hi = a
                break
        if j_hi >= 0:
            for a in range(j_hi, a1):
                if f[a] >= lo > f[a + 1]:
                    j_lo = a
                    break
    if j_hi < 0 or j_lo < 0:
        return fallback, False
    t_hi = _crossing(t, f, j_hi, hi)
    t_lo = _crossing(t, f, j_lo, lo)
    if t_hi == t_lo:
        return fallback, False
    slope = (hi - lo) / (t_hi - t_lo)
    return t_lo - (lo - base) / slope, True


@numba.njit(cache=True, nogil=True)
def _shoulder_shift(late_s):
    """How far contact moves when the first flank's read is ``late_s`` later than the line's (slope 0 to 1)."""
    a, b = SHOULDER_FROM_S, SHOULDER_FULL_S
    if late_s <= a:
        return 0.0
    if late_s <= b:
        return (late_s - a) ** 2 / (2.0 * (b - a))
    return late_s - 0.5 * (a + b)


@numba.njit(cache=True, nogil=True)
def _first_flank_ic(t, f, peak_i, bound, base, peak):
    """Initial contact read on the rise's first flank alone (module docstring), or NaN.

    The flank: from the crossing of ``FLANK_FROM`` up to the first sample pair after the 15 % crossing whose
    slope stops growing.  Its steepest level: the parabola through the pair slopes around the steepest pair.
    """
    n = f.size
    a0 = max(bound, 1)
    span = peak - base
    hi, lo, start = base + EDGE_HI * span, base + EDGE_LO * span, base + FLANK_FROM * span
    j_hi = -1
    for a in range(peak_i - 1, a0 - 1, -1):
        if f[a] < hi <= f[a + 1]:
            j_hi = a
            break
    if j_hi < 0:
        return np.nan
    j_lo = -1
    j_st = a0
    for a in range(j_hi, a0 - 1, -1):
        if j_lo < 0 and f[a] < lo <= f[a + 1]:
            j_lo = a
        if f[a] < start <= f[a + 1]:
            j_st = a
            break
    if j_lo < 0:
        return np.nan
    end = j_lo
    while end + 2 <= j_hi and f[end + 2] - f[end + 1] >= f[end + 1] - f[end]:
        end += 1
    best, k = 0.0, -1
    for i in range(j_st, min(end + 1, n - 2)):
        d = (f[i + 1] - f[i]) / (t[i + 1] - t[i])
        if d > best:
            best, k = d, i
    if k < 1:
        return np.nan
    d_before = (f[k] - f[k - 1]) / (t[k] - t[k - 1])
    d_after = (f[k + 2] - f[k + 1]) / (t[k + 2] - t[k + 1])
    curv = d_before - 2.0 * best + d_after
    frac = min(max(0.5 * (d_before - d_after) / curv, -0.5), 0.5) if curv < 0 else 0.0
    level = 0.5 * (f[k] + f[k + 1]) + frac * (t[k + 1] - t[k]) * best
    l1, l2 = max(level - FLANK_HALF_SPAN * span, base + 0.02 * span), level + FLANK_HALF_SPAN * span
    a1 = a2 = -1
    for a in range(max(j_st - 3, a0), min(j_hi + 8, n - 1)):
        if a1 < 0 and f[a] < l1 <= f[a + 1]:
            a1 = a
        if a1 >= 0 and f[a] < l2 <= f[a + 1]:
            a2 = a
            break
    if a2 < 0:
        return np.nan
    t1, t2 = _crossing(t, f, a1, l1), _crossing(t, f, a2, l2)
    if t2 <= t1:
        return np.nan
    return t1 - (l1 - base) * (t2 - t1) / (l2 - l1)


@numba.njit(cache=True, nogil=True)
def _crossing(t, f, i, level):
    """Time where f crosses ``level`` between samples i and i+1 (linear)."""
    d = f[i + 1] - f[i]
    frac = 0.5 if d == 0 else min(max((level - f[i]) / d, 0.0), 1.0)
    return t[i] + frac * (t[i + 1] - t[i])


def detrend_cues(ic_s: np.ndarray, cue_means: np.ndarray) -> np.ndarray:
    """Each step's cues minus the mean of its neighbours' (in the same run of alternating steps).

    A side cue alternates from step to step on top of a slowly varying level
    (a posture a little off neutral, a turn, a belt worn on the side): the
    neighbours' mean is that level.  A step with no neighbour keeps its cues.
    """
    c = np.asarray(cue_means, float)
    out = c.copy()
    m = c.shape[0]
    if m < 2:
        return out
    linked = np.diff(ic_s) <= MAX_STEP_S  # step k and k + 1 belong to one run
    has_prev = np.r_[False, linked]
    has_next = np.r_[linked, False]
    prev = np.vstack([c[:1], c[:-1]])
    nxt = np.vstack([c[1:], c[-1:]])
    n_nb = has_prev.astype(float) + has_next
    level = (prev * has_prev[:, None] + nxt * has_next[:, None]) / np.maximum(n_nb, 1)[:, None]
    return np.where((n_nb > 0)[:, None], c - level, c)


def cues_agree(cue_means: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The one rule for "the step's own cues agree with its side": most of its cues do not point to the other side.

    With the two cues, a step is in doubt only when both contradict the
    alternation; cues split between the sides leave the alternation to decide.
    """
    vote = np.sign(np.asarray(cue_means, float)).sum(axis=1)
    return np.where(np.asarray(side) == "L", vote >= 0, vote <= 0)


def assign_sides(ic_s: np.ndarray, cue_means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left or right stance for each contact of a bout's start.

    Parameters
    ----------
    ic_s
        (m,) contacts, s.
    cue_means
        (m, c) per contact, the (detrended) mean over its stance of signals
        that are positive in left stance and negative in right stance (any
        units: each cue is normalised by its median magnitude for the vote).

    Returns
    -------
    side
        Array of "L"/"R".
    agree
        Per step, True where the step's own cues agree with the assignment (:func:`cues_agree`).
    """
    m = ic_s.size
    if m == 0:
        return np.array([], dtype="<U1"), np.array([], dtype=bool)
    score = np.zeros(m)
    for means in np.asarray(cue_means, float).T:
        scale = np.median(np.abs(means)) or 1.0
        score += np.clip(means / scale, -3, 3)
    side = np.empty(m, dtype="<U1")
    # Bouts of strictly alternating steps: a long step breaks the alternation.
    breaks = np.flatnonzero(np.diff(ic_s) > MAX_STEP_S) + 1
    for seg in np.split(np.arange(m), breaks):
        alt = np.where(np.arange(seg.size) % 2 == 0, 1.0, -1.0)
        sign = 1.0 if np.sum(alt * score[seg]) >= 0 else -1.0
        side[seg] = np.where(alt * sign > 0, "L", "R")
    return side, cues_agree(cue_means, side)
