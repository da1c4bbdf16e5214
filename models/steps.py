"""The per-step table of METRICS.md, from segment signals and contact events.

Every metric is a small pure function of one step's samples; `step_rows`
applies them to the steps of a processed window.  Definitions and the
choices METRICS.md leaves open (docs/metrics.md):

* a *stride* for the rotation metrics is this step and the next one
  (this IC to the IC after next), or the previous and this one for the last
  step of a bout;
* axial rotation is the segment's yaw over the stride with the heading's
  trend removed, so a turning heading or a drifting yaw reference does not
  count.  The trend's slope is the change of the one-stride mean of yaw
  from the stride before (the two steps before it in the same bout, or the
  one there is) to the stride shifted on by one sample: a stride-periodic
  rotation has the same mean over any whole stride, so it leaves the slope
  alone.  A line fitted to the stride's own yaw tilts any rotation that is
  not at its extreme at contact (a 10-degree rotation crossing zero at
  contact read 9.1 on the external simulator);
* vertical oscillation integrates the step's vertical acceleration twice
  with the step's mean acceleration and mean velocity removed (the body's
  height is the same at consecutive contacts on level ground).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.events import MAX_STEP_S
from stridesense.models.contact_time import MIN_STANCE_S, UNPLACED_FLAG, combine, toe_off_s
from stridesense.models.impact import IMPACT_PROMINENCE_BW, PELVIS_ACC, choose_peak, step_impulse_factor

G = GRAVITY_MPS2
# A step is `turning` when the heading (yaw averaged over a stride) changed by more than this from the
# stride before its contact to the stride after: a 20-m radius at 3.3 m/s turns 6-7 degrees a stride, a
# 400-m track's bend 3-4; a gyroscope bias of 3 deg/s left over adds 2 at a 0.7-s stride.
TURNING_DEG_PER_STRIDE = 5.0
# A step is `pelvis_leaning` when the pelvis' mean obliquity over the stride is further than this from
# neutral: a runner's own asymmetric drop moves it by 1-2 degrees (9/4 degrees of drop on the external
# simulator: 1.2); a turn's lean or a shifted belt by more, and the drop (from neutral) holds that lean.
LEANING_DEG = 4.0
LEANING_FLAG = "pelvis_leaning"
MIN_LOADING_RATE_HZ = 100.0  # a heel-strike transient rises in ~30 ms: slower sampling cannot see its slope


@dataclass
class SegmentSignals:
    """One segment's processed signals on its own uniform clock.

    Attributes
    ----------
    time_s
        (n,) sample times, session clock, s.
    angles_rad
        (n, 3) yaw, pitch, roll relative to standing neutral, rad (models.segments).
    f_world_mps2
        (n, 3) specific force in the world frame (z up), m/s^2.
    f_vert_lp_mps2
        (n,) vertical specific force, low-passed for impact metrics, m/s^2
        (None for the trunk: impact metrics come from the pelvis).
    f_vert_smooth_mps2
        (n,) the same, smoothed more: locates the impact peak, m/s^2 (or None).
    saturated
        (n,) True where a sensor axis sat at its range.
    f_vert_stance_mps2
        (n,) vertical specific force low-passed for toe-off
        (models.contact_time), m/s^2; None: the contacts' own toe-offs are kept.
    """

    time_s: np.ndarray
    angles_rad: np.ndarray
    f_world_mps2: np.ndarray
    f_vert_lp_mps2: np.ndarray | None
    f_vert_smooth_mps2: np.ndarray | None
    saturated: np.ndarray
    f_vert_stance_mps2: np.ndarray | None = None

    def index(self, t_s: float) -> int:
        """Index of the first sample at or after ``t_s``."""
        return int(np.searchsorted(self.time_s, t_s))


def step_weights(time_s: np.ndarray, t0_s: float, t1_s: float, sampling_rate_hz: float) -> tuple[int, np.ndarray]:
    """The share of each sample's interval (its time +- half a sample) that lies within ``[t0_s, t1_s]``.

    Returns the first sample's index and the weights of it and the samples after it (0..1, the ends fractional),
    so that a step's integrals move smoothly with its contact times instead of by a whole sample.
    """
    half = 0.5 / sampling_rate_hz
    lo = int(np.searchsorted(time_s, t0_s - half))
    hi = int(np.searchsorted(time_s, t1_s + half))
    t = time_s[lo:hi]
    w = (np.minimum(t + half, t1_s) - np.maximum(t - half, t0_s)) * sampling_rate_hz
    return lo, np.clip(w, 0.0, 1.0)


def vertical_oscillation_cm(az_mps2: np.ndarray, weight: np.ndarray, sampling_rate_hz: float) -> float:
    """Peak-to-peak vertical displacement over one step, cm.

    ``az_mps2`` is the world-vertical acceleration (gravity removed) over one step, from one initial contact
    to the next, and ``weight`` each sample's share of the step (`step_weights`).  The acceleration is taken
    as constant over each sample's interval and integrated twice from the initial contact, its mean over the
    step removed (the body returns to the same vertical speed), then the velocity's mean, then the
    displacement's straight-line drift from contact to contact.
    """
    dt = 1.0 / sampling_rate_hz
    w = np.asarray(weight, float)
    a = az_mps2 - (w * az_mps2).sum() / w.sum()
    v = np.cumsum(w * a) * dt
    v -= (w * v).sum() / w.sum()
    z = np.concatenate(([0.0], np.cumsum(w * v) * dt))
    tau = np.concatenate(([0.0], np.cumsum(w)))
    z -= z[-1] * tau / tau[-1]
    return float(np.ptp(z) * 100.0)


def braking_mps(a_forward_mps2: np.ndarray, sampling_rate_hz: float) -> float:
    """Forward speed lost from initial contact to the slowest moment of stance, m/s."""
    v = np.cumsum(a_forward_mps2) / sampling_rate_hz
    return float(max(0.0, -v.min())) if v.size else float("nan")


def stride_rotation_deg(yaw_rad: np.ndarray, s0: int, s1: int, back: int, ahead: int) -> float:
    """Peak-to-peak of an angle over the stride ``yaw_rad[s0:s1]`` with the heading's trend removed, degrees.

    The trend's slope is the change of the stride-long mean from ``back``
    samples before the stride to ``ahead`` samples after it, over that shift:
    the mean of a stride-periodic rotation over any whole stride is the
    same, so only the heading (a turn, a drifting yaw reference) moves it.
    ``back`` and ``ahead`` (each at most a stride) say how far the angle
    stays in the same bout of running; a shift of one sample is the slope
    between the stride's two contacts.  With no shift at all (the
    data ends at the stride), the stride's own least-squares line is removed.
    """
    m = s1 - s0
    if m < 3:
        return float("nan")
    yaw_rad = np.asarray(yaw_rad, dtype=float)  # a heading of radians minus another: float32 is not enough
    back, ahead = min(back, m, s0), min(ahead, m, yaw_rad.size - s1)
    x = np.arange(m, dtype=float)
    y = yaw_rad[s0:s1]
    if back + ahead > 0:
        slope = (yaw_rad[s0 + ahead:s1 + ahead].mean() - yaw_rad[s0 - back:s1 - back].mean()) / (back + ahead)
    else:
        slope, _ = linear_fit(x, y)
    return float(np.degrees(np.ptp(y - slope * x)))


def heading_change_deg(yaw_rad: np.ndarray, i_contact: int, stride_samples: int) -> float:
    """Heading change across a contact: mean yaw over the stride after it minus over the stride before, degrees.

    Averaging over a whole stride removes the pelvis' own axial rotation
    (stride-periodic); what stays is the heading.
    """
    m = max(stride_samples, 2)
    before, after = yaw_rad[max(i_contact - m, 0):i_contact], yaw_rad[i_contact:i_contact + m]
    if before.size == 0 or after.size == 0:
        return 0.0
    return float(np.degrees(after.mean() - before.mean()))


def vertical_error_rad(f_world_mps2: np.ndarray, heading_rad: float) -> float:
    """How far the orientation's vertical is tilted towards the segment's left over a stride, rad (add to roll).

    Over a stride of straight running at a steady pace the mean specific force
    is gravity, in whatever posture the pelvis holds: a sideways part of its
    mean in the world frame is the orientation's own error about the forward
    axis (a filter tilted by e towards the right reads a mean force tilted by e
    towards the left, and a roll of e too much).  ``f_world_mps2`` is the
    stride's specific force in the world frame, ``heading_rad`` the stride's
    heading (segment x in the world's horizontal plane).
    """
    f = np.asarray(f_world_mps2, float).mean(axis=0)
    left = -f[0] * np.sin(heading_rad) + f[1] * np.cos(heading_rad)
    return float(np.arctan2(left, f[2]))


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y on x (closed form: per-step calls are many)."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    den = float(np.dot(dx, dx))
    slope = float(np.dot(dx, y - ym) / den) if den > 0 else 0.0
    return slope, float(ym - slope * xm)


# Compiled twins of the metric functions above, applied to every step at once.
# Per step they are a few dozen small-array operations; run one step at a time
# through numpy that overhead dominated the analysis of an hour (about 0.5 ms a
# step).  tests/models/test_steps.py checks them against the functions above.


@numba.njit(cache=True, nogil=True)
def _first_local_max(x, prominence):
    """First local maximum (plateaus: their middle) with at least ``prominence``; else the argmax.

    Same peaks and prominences as scipy.signal.find_peaks (no wlen).
    """
    n = x.size
    i = 1
    while i < n - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peak = (i + ahead - 1) // 2
                left_min = x[peak]
                j = peak - 1
                while j >= 0 and x[j] <= x[peak]:
                    if x[j] < left_min:
                        left_min = x[j]
                    j -= 1
                right_min = x[peak]
                j = peak + 1
                while j < n and x[j] <= x[peak]:
                    if x[j] < right_min:
                        right_min = x[j]
                    j += 1
                if x[peak] - max(left_min, right_min) >= prominence:
                    return peak
                i = ahead
        i += 1
    return int(np.argmax(x))


@numba.njit(cache=True, nogil=True)
def _rise_time(x, n, level, fs):
    for i in range(n):
        if x[i] >= level:
            if i == 0:
                return 0.0
            return (i - 1 + (level - x[i - 1]) / (x[i] - x[i - 1])) / fs
    return np.nan


@numba.njit(cache=True, nogil=True)
def _impact(force, smooth, fs):
    """(peak_bw, loading_rate_bw_s) as models.impact.impact_metrics with a smoothed signal."""
    if force.size < 4:
        return np.nan, np.nan
    i_peak = _first_local_max(smooth, IMPACT_PROMINENCE_BW / 2)
    w = max(int(0.01 * fs), 1)
    lo = max(i_peak - w, 0)
    hi = min(i_peak + w + 1, force.size)
    i_peak = lo + int(np.argmax(force[lo:hi]))
    peak = force[i_peak]
    t20 = _rise_time(force, i_peak + 1, 0.2 * peak, fs)
    t80 = _rise_time(force, i_peak + 1, 0.8 * peak, fs)
    rate = 0.6 * peak / (t80 - t20) if t80 > t20 else np.nan
    return force.max(), rate


@numba.njit(cache=True, nogil=True)
def _fit(x, y):
    m = x.size
    xm = x.sum() / m
    ym = y.sum() / m
    den = 0.0
    num = 0.0
    for i in range(m):
        den += (x[i] - xm) ** 2
        num += (x[i] - xm) * (y[i] - ym)
    slope = num / den if den > 0 else 0.0
    return slope, ym - slope * xm


@numba.njit(cache=True, nogil=True)
def _stride_rotation_deg(y, s0, s1, back, ahead):
    """Compiled twin of `stride_rotation_deg`."""
    m = s1 - s0
    if m < 3:
        return np.nan
    back = min(back, m, s0)
    ahead = min(ahead, m, y.size - s1)
    if back + ahead > 0:
        # float64 sums: the pipeline's yaw is float32, and the slope is a small difference of two means.
        late = 0.0
        early = 0.0
        for i in range(m):
            late += float(y[s0 + ahead + i])
            early += float(y[s0 - back + i])
        slope = (late - early) / m / (back + ahead)
    else:
        slope, _ = _fit(np.arange(m) * 1.0, y[s0:s1].astype(np.float64))
    lo, hi = np.inf, -np.inf
    for i in range(m):
        r = float(y[s0 + i]) - slope * i
        lo = min(lo, r)
        hi = max(hi, r)
    return np.degrees(hi - lo)


@numba.njit(cache=True, nogil=True)
def _vertical_oscillation_cm(time_s, az, t0, t1, fs):
    """Compiled twin of `vertical_oscillation_cm` over `step_weights`' samples of ``[t0, t1]``.

    ``az`` is the world-vertical specific force (gravity still in it: taken off here, no copy per step).
    """
    half = 0.5 / fs
    dt = 1.0 / fs
    lo = np.searchsorted(time_s, t0 - half)
    hi = np.searchsorted(time_s, t1 + half)
    m = hi - lo
    if m < 2:
        return np.nan
    w = np.empty(m)
    for i in range(m):
        t = time_s[lo + i]
        w[i] = min(max((min(t + half, t1) - max(t - half, t0)) * fs, 0.0), 1.0)
    sw = w.sum()
    if sw <= 0.0:
        return np.nan
    a_mean = 0.0
    for i in range(m):
        a_mean += w[i] * (az[lo + i] - G)
    a_mean /= sw
    v = np.empty(m)
    acc = 0.0
    v_mean = 0.0
    for i in range(m):
        acc += w[i] * (az[lo + i] - G - a_mean) * dt
        v[i] = acc
        v_mean += w[i] * acc
    v_mean /= sw
    z = 0.0
    tau = 0.0
    zs = np.empty(m + 1)
    taus = np.empty(m + 1)
    zs[0] = 0.0
    taus[0] = 0.0
    for i in range(m):
        z += w[i] * (v[i] - v_mean) * dt
        tau += w[i]
        zs[i + 1] = z
        taus[i + 1] = tau
    lo_z, hi_z = np.inf, -np.inf
    for i in range(m + 1):
        r = zs[i] - zs[m] * taus[i] / taus[m]
        lo_z = min(lo_z, r)
        hi_z = max(hi_z, r)
    return (hi_z - lo_z) * 100.0


@numba.njit(cache=True, nogil=True)
def _pelvis_steps(time_s, ang, f_w, f_lp, f_smooth, saturated, ic, to, nxt, i_ic, i_to, i_next, s0, s1,
                  back, ahead, sign, fs, turning_rad, leaning_rad, level_on_mean_force, out, flags):
    """Pelvis metrics of every step: out columns = PELVIS_KERNEL_COLUMNS; flags = (turning, saturated, leaning).

    A step is `turning` when the heading itself changed by more than ``turning_rad`` over a stride.
    ``level_on_mean_force``: obliquity on a stride that is not turning is levelled on the stride's mean
    specific force (`vertical_error_rad`).
    """
    n = time_s.size
    for k in range(ic.size):
        a, b = i_ic[k], min(max(i_to[k], i_ic[k] + 1), n)
        e = min(max(i_next[k], i_ic[k] + 2), n)
        p0, p1 = s0[k], min(s1[k], n)
        peak, rate = _impact(f_lp[a:b] / G, f_smooth[a:b] / G, fs)
        if p1 - p0 > 3:
            slope, offset = _fit(time_s[p0:p1] - ic[k], ang[p0:p1, 0])
        else:
            slope, offset = 0.0, ang[a, 0]
        # Heading: the yaw averaged over a whole stride (the stride-periodic axial rotation averages out);
        # its change from the stride before this contact to the stride after it.
        m = max(p1 - p0, 2)
        before = ang[max(a - m, 0):a, 0]
        after = ang[a:min(a + m, n), 0]
        turning = before.size > 0 and after.size > 0 and abs(after.mean() - before.mean()) > turning_rad
        level = 0.0
        if level_on_mean_force and p1 - p0 > 3 and not turning:
            h = offset + slope * (0.5 * (time_s[p0] + time_s[p1 - 1]) - ic[k])
            f = f_w[p0:p1]
            level = np.arctan2(-f[:, 0].mean() * np.sin(h) + f[:, 1].mean() * np.cos(h), f[:, 2].mean())
        v = 0.0
        v_min = np.inf
        acc_max = 0.0
        drop = -np.inf
        sat = False
        for j in range(a, b):
            heading = offset + slope * (time_s[j] - ic[k])
            v += (f_w[j, 0] * np.cos(heading) + f_w[j, 1] * np.sin(heading)) / fs
            v_min = min(v_min, v)
            acc_max = max(acc_max, np.sqrt(f_w[j, 0] ** 2 + f_w[j, 1] ** 2 + f_w[j, 2] ** 2))
            drop = max(drop, sign[k] * (ang[j, 2] + level))
            sat = sat or saturated[j]
        # A pelvis leaning as a whole over the stride (into a turn, on a camber, or a belt that shifted): the
        # drop, relative to neutral as METRICS.md defines it, then holds that lean, not only the hip's control.
        leaning = p1 - p0 > 3 and abs(ang[p0:p1, 2].mean() + level) > leaning_rad
        out[k, 0] = np.degrees(drop)
        out[k, 1] = peak
        out[k, 2] = rate
        out[k, 3] = acc_max / G
        out[k, 4] = _vertical_oscillation_cm(time_s, f_w[:, 2], ic[k], nxt[k], fs)
        out[k, 5] = max(0.0, -v_min) if b > a else np.nan
        out[k, 6] = _stride_rotation_deg(ang[:, 0], p0, p1, back[k], ahead[k])
        out[k, 7] = np.degrees(ang[a:e, 1].mean())
        out[k, 8] = f_lp[a:b].sum() / fs / (G * (nxt[k] - ic[k])) if b > a else np.nan
        flags[k, 0] = turning
        flags[k, 1] = sat
        flags[k, 2] = leaning


@numba.njit(cache=True, nogil=True)
def _trunk_steps(p_time, p_yaw, t_time, t_ang, t_saturated, a0, a1, s0, s1, back, ahead, both_gyro, out, flags):
    """Trunk lean and pelvis-trunk rotation of every step whose stride the trunk covers.

    The relative yaw is taken on the pelvis clock over the stride and the
    shifts `_stride_rotation_deg` looks at, as far as the trunk covers them.
    """
    n = p_time.size
    for k in range(a0.size):
        if a1[k] - a0[k] < 3:
            continue
        flags[k, 0] = True
        out[k, 0] = np.degrees(t_ang[a0[k]:a1[k], 1].mean())
        if both_gyro:
            e0 = max(s0[k] - min(back[k], s1[k] - s0[k]), 0)
            e1 = min(s1[k] + min(ahead[k], s1[k] - s0[k]), n)
            while e0 < s0[k] and p_time[e0] < t_time[0]:
                e0 += 1
            while e1 > s1[k] and p_time[e1 - 1] > t_time[-1]:
                e1 -= 1
            c0 = max(np.searchsorted(t_time, p_time[e0]) - 1, 0)
            c1 = min(np.searchsorted(t_time, p_time[e1 - 1]) + 1, t_time.size)
            rel = np.interp(p_time[e0:e1], t_time[c0:c1], t_ang[c0:c1, 0]) - p_yaw[e0:e1]
            out[k, 1] = _stride_rotation_deg(rel, s0[k] - e0, s1[k] - e0, s0[k] - e0, e1 - s1[k])
        for j in range(a0[k], a1[k]):
            if t_saturated[j]:
                flags[k, 1] = True


def rotation_shifts(time_s: np.ndarray, ic_s: np.ndarray, j0: np.ndarray, j1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the rotation's trend is read before and after each stride ``[ic_s[j0], ic_s[j1])``, samples.

    Before: the two steps before the stride, or the one, as far as they are
    running steps of the same bout (each at most MAX_STEP_S); else 0.  After: the one sample at the
    stride's closing contact, always.  Contacts after the stride are not
    looked at: live, a step's row comes out before the next contact is
    final, and it must be the row the whole recording gives.
    """
    j0, j1 = np.asarray(j0, dtype=np.int64), np.asarray(j1, dtype=np.int64)
    s0 = np.searchsorted(time_s, ic_s[j0])
    prev = np.maximum(j0 - 1, 0)
    prev2 = np.maximum(j0 - 2, 0)
    has_prev = (j0 >= 1) & (ic_s[j0] - ic_s[prev] <= MAX_STEP_S)
    has_prev2 = has_prev & (j0 >= 2) & (ic_s[prev] - ic_s[prev2] <= MAX_STEP_S)
    back = np.where(has_prev2, s0 - np.searchsorted(time_s, ic_s[prev2]),
                    np.where(has_prev, s0 - np.searchsorted(time_s, ic_s[prev]), 0))
    return back.astype(np.int64), np.ones(j1.size, dtype=np.int64)


def step_rows(
    ic_s: np.ndarray,
    to_s: np.ndarray,
    side: np.ndarray,
    reasons: list[list[str]],
    k_range: range,
    pelvis: SegmentSignals,
    trunk: SegmentSignals | None,
    sampling_rate_hz: float,
    *,
    pelvis_has_gyro: bool = True,
    trunk_has_gyro: bool = True,
    trunk_reason: str | None = "trunk_missing",
    strides: tuple[np.ndarray, np.ndarray] | None = None,
    level_on_mean_force: bool = False,
) -> list[dict]:
    """Per-step rows (METRICS.md columns) for steps ``k_range`` of a bout.

    Parameters
    ----------
    ic_s, to_s, side
        All contacts of the bout, in order (step k ends at ``ic_s[k + 1]``).
    reasons
        Per contact (indexed by contact number), quality reasons already known (events, gaps).
    k_range
        Which steps to compute; each needs ``k + 1 < len(ic_s)``.
    pelvis, trunk
        Segment signals covering the steps (trunk may be None).
    sampling_rate_hz
        Pelvis sample rate, Hz.
    strides
        Per step of ``k_range``, the contacts (indices into ``ic_s``) that
        start and end its stride; by default this step and the next, or the
        previous and this one for the last step of ``ic_s``.
    level_on_mean_force
        Level the obliquity of every stride that is not `turning` on its mean
        specific force (`vertical_error_rad`): for a pelvis sensor without a
        standing calibration, whose orientation drifts (docs/metrics.md).
    """
    fs = float(sampling_rate_hz)
    ks = np.asarray(k_range, dtype=np.int64)
    if ks.size == 0:
        return []
    ic_s, to_s = np.asarray(ic_s, float), np.asarray(to_s, float)
    n_ic = ic_s.size
    ic, to, nxt = ic_s[ks], to_s[ks], ic_s[ks + 1]
    if strides is None:
        last = ks + 2 >= n_ic  # the last step of a bout: its stride is the previous step and this one
        j0 = np.where(last, np.maximum(ks - 1, 0), ks)
        j1 = np.where(last, ks + 1, ks + 2)
    else:
        j0, j1 = (np.asarray(j, dtype=np.int64) for j in strides)
    pt = pelvis.time_s
    s0, s1 = np.searchsorted(pt, ic_s[j0]), np.searchsorted(pt, ic_s[j1])
    back, ahead = rotation_shifts(pt, ic_s, j0, j1)
    if pelvis.f_vert_stance_mps2 is not None:
        # Toe-off re-read on the sacrum's stance wave (models.contact_time): NaN where it cannot be placed.
        to = combine(to, toe_off_s(pt, pelvis.f_vert_stance_mps2 / G, ic, nxt), ic, nxt)
    # No impossible values whichever toe-off it is: a stance of MIN_STANCE_S at least, ending by the next contact.
    placed = np.isfinite(to) & (to >= ic + MIN_STANCE_S) & (to <= nxt)
    to = np.where(placed, to, np.nan)
    to_window = np.where(placed, to, to_s[ks])  # stance window of the other metrics
    sign = np.where(np.asarray(side)[ks] == "L", 1.0, -1.0)
    out = np.full((ks.size, 9), np.nan)
    flags = np.zeros((ks.size, 3), dtype=np.bool_)
    _pelvis_steps(pt, np.ascontiguousarray(pelvis.angles_rad), np.ascontiguousarray(pelvis.f_world_mps2),
                  pelvis.f_vert_lp_mps2, pelvis.f_vert_smooth_mps2, pelvis.saturated,
                  ic, to_window, nxt, np.searchsorted(pt, ic), np.searchsorted(pt, to_window), np.searchsorted(pt, nxt),
                  s0, s1, back, ahead, sign, fs, np.radians(TURNING_DEG_PER_STRIDE), np.radians(LEANING_DEG),
                  bool(level_on_mean_force), out, flags)
    trunk_out = np.full((ks.size, 2), np.nan)
    trunk_flags = np.zeros((ks.size, 2), dtype=np.bool_)
    if trunk is not None:
        tt = trunk.time_s
        covered = (tt[0] <= ic) & (tt[-1] >= ic_s[j1]) if tt.size else np.zeros(ks.size, bool)
        a0, a1 = np.searchsorted(tt, ic), np.searchsorted(tt, nxt)
        a1 = np.where(covered, a1, a0)  # not covered: no trunk values
        _trunk_steps(pt, np.ascontiguousarray(pelvis.angles_rad[:, 0]), tt, np.ascontiguousarray(trunk.angles_rad),
                     trunk.saturated, a0, a1, s0, s1, back, ahead, bool(pelvis_has_gyro and trunk_has_gyro), trunk_out, trunk_flags)
    if not pelvis_has_gyro:
        out[:, [0, 6]] = np.nan
        flags[:, [0, 2]] = False
    if fs < MIN_LOADING_RATE_HZ:
        out[:, 2] = np.nan
    step_impulse = step_impulse_factor(pt, pelvis.f_world_mps2[:, 2], (ic, nxt), (ic_s[j0], ic_s[j1]))
    peak_bw, impact_model = choose_peak(out[:, 1], to - ic, nxt - ic, out[:, 8], step_impulse)
    # The loading rate is the pelvis signal's slope: only where the pelvis passes for the centre of mass.
    out[impact_model != PELVIS_ACC, 2] = np.nan
    rows = []
    for r, k in enumerate(ks):
        reason = list(reasons[k])
        if flags[r, 0]:
            reason.append("turning")
        if flags[r, 1]:
            reason.append("saturated")
        if flags[r, 2]:
            reason.append(LEANING_FLAG)
        if not placed[r]:
            reason.append(UNPLACED_FLAG)
        if trunk is not None and trunk_flags[r, 0]:
            if trunk_flags[r, 1] and "saturated" not in reason:
                reason.append("saturated")
        elif trunk_reason:
            reason.append(trunk_reason)
        step_time = nxt[r] - ic[r]
        rows.append({
            "side": side[k],
            "ic_s": ic[r],
            "to_s": to[r],
            "contact_time_ms": (to[r] - ic[r]) * 1e3,
            "flight_time_ms": (nxt[r] - to[r]) * 1e3,
            "step_time_s": step_time,
            "cadence_spm": 60.0 / step_time,
            "pelvic_drop_deg": float(out[r, 0]),
            "trunk_lean_deg": float(trunk_out[r, 0]),
            "peak_vgrf_bw": float(peak_bw[r]),
            "loading_rate_bw_s": float(out[r, 2]),
            "peak_acc_g": float(out[r, 3]),
            "vertical_oscillation_cm": float(out[r, 4]),
            "braking_mps": float(out[r, 5]),
            "pelvic_rotation_deg": float(out[r, 6]),
            "pelvis_trunk_rotation_deg": float(trunk_out[r, 1]),
            "pelvic_tilt_deg": float(out[r, 7]),
            "quality": ";".join(dict.fromkeys(reason)) or "ok",
            "impact_model": impact_model[r],
        })
    return rows
