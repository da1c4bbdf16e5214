"""The per-step table of METRICS.md, from segment signals and contact events.

Every metric is a small pure function of one step's samples; `step_rows`
applies them to the steps of a processed window.  Definitions and the
choices METRICS.md leaves open (docs/metrics.md):

* a *stride* for the rotation metrics is this step and the next one
  (this IC to the IC after next), or the previous and this one for the last
  step of a bout;
* axial rotation is the segment's yaw with the stride's linear trend removed,
  so a turning heading or a drifting yaw reference does not count;
* vertical oscillation integrates the step's vertical acceleration twice
  with the step's mean acceleration and mean velocity removed (the body's
  height is the same at consecutive contacts on level ground).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.models.impact import impact_metrics

G = GRAVITY_MPS2
TURNING_RADPS = 0.15
MIN_LOADING_RATE_HZ = 100.0  # a heel-strike transient rises in ~30 ms: slower sampling cannot see its slope  # heading change above this in a step flags it as `turning`


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
        (n,) vertical specific force, low-passed for impact metrics, m/s^2.
    f_vert_smooth_mps2
        (n,) the same, smoothed more: locates the impact peak, m/s^2.
    saturated
        (n,) True where a sensor axis sat at its range.
    reference_held
        (n,) True where the orientation filter held its gravity reference
        through a turn (imu.fusion).
    """

    time_s: np.ndarray
    angles_rad: np.ndarray
    f_world_mps2: np.ndarray
    f_vert_lp_mps2: np.ndarray
    f_vert_smooth_mps2: np.ndarray
    saturated: np.ndarray
    reference_held: np.ndarray

    def index(self, t_s: float) -> int:
        """Index of the first sample at or after ``t_s``."""
        return int(np.searchsorted(self.time_s, t_s))


def vertical_oscillation_cm(az_mps2: np.ndarray, sampling_rate_hz: float) -> float:
    """Peak-to-peak vertical displacement over one step, cm.

    ``az_mps2`` is the world-vertical acceleration (gravity removed) from one
    initial contact to the next.
    """
    dt = 1.0 / sampling_rate_hz
    a = az_mps2 - az_mps2.mean()
    v = np.cumsum(a) * dt
    v -= v.mean()
    z = np.cumsum(v) * dt
    z -= np.linspace(z[0], z[-1], z.size)
    return float(np.ptp(z) * 100.0)


def braking_mps(a_forward_mps2: np.ndarray, sampling_rate_hz: float) -> float:
    """Forward speed lost from initial contact to the slowest moment of stance, m/s."""
    v = np.cumsum(a_forward_mps2) / sampling_rate_hz
    return float(max(0.0, -v.min())) if v.size else float("nan")


def detrended_ptp_deg(yaw_rad: np.ndarray) -> float:
    """Peak-to-peak of an angle after removing its linear trend, degrees."""
    if yaw_rad.size < 3:
        return float("nan")
    x = np.arange(yaw_rad.size, dtype=float)
    slope, offset = linear_fit(x, yaw_rad)
    return float(np.degrees(np.ptp(yaw_rad - (offset + slope * x))))


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y on x (closed form: per-step calls are many)."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    den = float(np.dot(dx, dx))
    slope = float(np.dot(dx, y - ym) / den) if den > 0 else 0.0
    return slope, float(ym - slope * xm)


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
) -> list[dict]:
    """Per-step rows (METRICS.md columns) for steps ``k_range`` of a bout.

    Parameters
    ----------
    ic_s, to_s, side
        All contacts of the bout, in order (step k ends at ``ic_s[k + 1]``).
    reasons
        Per contact, quality reasons already known (events, gaps).
    k_range
        Which steps to compute; each needs ``k + 1 < len(ic_s)``.
    pelvis, trunk
        Segment signals covering the steps (trunk may be None).
    sampling_rate_hz
        Pelvis sample rate, Hz.
    """
    fs = sampling_rate_hz
    rows = []
    n_ic = ic_s.size
    for k in k_range:
        ic, to, nxt = ic_s[k], to_s[k], ic_s[k + 1]
        j0, j1 = (k, k + 2) if k + 2 < n_ic else (max(k - 1, 0), k + 1)
        i_ic, i_to, i_next = pelvis.index(ic), pelvis.index(to), pelvis.index(nxt)
        s0, s1 = pelvis.index(ic_s[j0]), pelvis.index(ic_s[j1])
        sign = 1.0 if side[k] == "L" else -1.0
        reason = list(reasons[k])
        ang = pelvis.angles_rad
        stance = slice(i_ic, max(i_to, i_ic + 1))
        step = slice(i_ic, max(i_next, i_ic + 2))
        f_vert = pelvis.f_vert_lp_mps2
        impact = impact_metrics(f_vert[stance] / G, fs, pelvis.f_vert_smooth_mps2[stance] / G)
        f_w = pelvis.f_world_mps2
        # Heading: the stride's linear trend of pelvis yaw (its own rotation averages out);
        # without a gyroscope the levelled frame does not turn, and the trend is flat.
        t_stride = pelvis.time_s[s0:s1]
        slope, offset = linear_fit(t_stride - ic, ang[s0:s1, 0]) if s1 - s0 > 3 else (0.0, ang[i_ic, 0])
        heading = offset + slope * (pelvis.time_s[stance] - ic)
        a_fwd = f_w[stance, 0] * np.cos(heading) + f_w[stance, 1] * np.sin(heading)
        acc_norm = np.linalg.norm(f_w[stance], axis=1)
        turn_rate = abs(slope)
        if pelvis_has_gyro and (turn_rate > TURNING_RADPS or pelvis.reference_held[step].any()):
            reason.append("turning")
        if pelvis.saturated[stance].any():
            reason.append("saturated")
        row = {
            "side": side[k],
            "ic_s": ic,
            "to_s": to,
            "contact_time_ms": (to - ic) * 1e3,
            "flight_time_ms": (nxt - to) * 1e3,
            "step_time_s": nxt - ic,
            "cadence_spm": 60.0 / (nxt - ic),
            "pelvic_drop_deg": float(np.degrees(np.max(sign * ang[stance, 2]))) if pelvis_has_gyro else np.nan,
            "trunk_lean_deg": np.nan,
            "peak_vgrf_bw": impact.peak_bw,
            "loading_rate_bw_s": impact.loading_rate_bw_s if fs >= MIN_LOADING_RATE_HZ else np.nan,
            "peak_acc_g": float(acc_norm.max() / G),
            "vertical_oscillation_cm": vertical_oscillation_cm(f_w[step, 2] - G, fs),
            "braking_mps": braking_mps(a_fwd, fs),
            "pelvic_rotation_deg": detrended_ptp_deg(ang[s0:s1, 0]) if pelvis_has_gyro else np.nan,
            "pelvis_trunk_rotation_deg": np.nan,
            "pelvic_tilt_deg": float(np.degrees(np.mean(ang[step, 1]))),
        }
        if trunk is not None:
            a0, a1 = trunk.index(ic), trunk.index(nxt)
            t_step = slice(a0, a1)
            t_stride = slice(trunk.index(ic_s[j0]), trunk.index(ic_s[j1]))
            if a1 - a0 >= 3 and trunk.time_s[0] <= ic and trunk.time_s[-1] >= ic_s[j1]:
                row["trunk_lean_deg"] = float(np.degrees(np.mean(trunk.angles_rad[t_step, 1])))
                if pelvis_has_gyro and trunk_has_gyro:
                    trunk_yaw = np.interp(pelvis.time_s[s0:s1], trunk.time_s[t_stride], trunk.angles_rad[t_stride, 0])
                    row["pelvis_trunk_rotation_deg"] = detrended_ptp_deg(trunk_yaw - ang[s0:s1, 0])
                if trunk.saturated[t_step].any() and "saturated" not in reason:
                    reason.append("saturated")
            elif trunk_reason:
                reason.append(trunk_reason)
        elif trunk_reason:
            reason.append(trunk_reason)
        row["quality"] = ";".join(dict.fromkeys(reason)) or "ok"
        rows.append(row)
    return rows
