"""Impact load: peak vertical force from one of two models, and the loading rate.

Two models of the peak vertical ground reaction force, in body weights:

* ``pelvis_acc``: the pelvis as a centre-of-mass proxy, ``F / (m g) = f_z / g``
  where ``f_z`` is the pelvis' vertical specific force in the world frame (so
  body mass is not needed for BW units).  Right when the sensor moves with the
  centre of mass; a sacral sensor on a real runner does not (soft tissue,
  pelvic rotation): its peaks run 1.2-2.5 times the force plate's.
* ``spring_mass``: Morin, Dalleau, Kyrolainen, Jeannin & Belli 2005 (J Appl
  Biomech 21:167): the stance force is a half sine whose impulse carries the
  body through the step, ``F_max / (m g) = pi/2 * (t_flight / t_contact + 1)
  = pi/2 * step_time / contact_time``, times the step's own impulse /
  (body weight x step time) (`step_impulse_factor`: left and right steps
  differ).  No constant is fitted; it needs a placed toe-off.

`choose_peak` keeps the pelvis' own peak where the spring-mass relation
vouches for it (within ``SPRING_MASS_BAND`` of it) and the spring-mass value
elsewhere.  The band is how far a force plate's own peak strays from the
spring-mass value: on the force-treadmill development trials (one runner,
speeds 2.5-4.2 m/s, slopes -10 to +10 deg) 95 % of the steps lie within
0.91-1.20 of it (median 1.035; the high end is downhill impact peaks).

The impact peak and loading rate below read the pelvis signal.  Loading rate is the mean slope from 20 %
to 80 % of the impact peak (the first local maximum after contact that
stands out by at least 0.1 BW, or the peak itself when there is no impact
transient).  It is
EXPERIMENTAL: published wearable estimates of impact peak and loading rate
do not agree with force plates within +-65 % (Kiernan, Ng & Hawkins 2023).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks


@dataclass(frozen=True)
class Impact:
    """Impact metrics of one stance.

    Attributes
    ----------
    peak_bw
        Peak vertical force, body weights.
    impact_peak_bw
        First local maximum after contact, body weights.
    loading_rate_bw_s
        Mean slope from 20 % to 80 % of the impact peak, BW/s (experimental).
    """

    peak_bw: float
    impact_peak_bw: float
    loading_rate_bw_s: float


IMPACT_PROMINENCE_BW = 0.1  # a local maximum must stand out this much to be the impact peak


def first_local_max(x: np.ndarray, prominence: float = IMPACT_PROMINENCE_BW) -> int:
    """Index of the first local maximum of ``x`` that stands out by ``prominence``.

    Without such a peak (a forefoot strike: no impact transient) it is the
    global maximum, so loading rate is then the slope of the whole rise.
    """
    peaks, _ = find_peaks(x, prominence=prominence)
    return int(peaks[0]) if peaks.size else int(np.argmax(x))


def rise_time_s(x: np.ndarray, level: float, sampling_rate_hz: float) -> float:
    """Time from the start of ``x`` at which it first reaches ``level`` (linear interpolation), s."""
    above = np.flatnonzero(x >= level)
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return 0.0
    return (i - 1 + (level - x[i - 1]) / (x[i] - x[i - 1])) / sampling_rate_hz


def impact_metrics(force_bw: np.ndarray, sampling_rate_hz: float, smooth_bw: np.ndarray | None = None) -> Impact:
    """Impact metrics of one stance from its vertical force in body weights.

    Parameters
    ----------
    force_bw
        Vertical force over the stance, body weights.
    sampling_rate_hz
        Sample rate, Hz.
    smooth_bw
        The same, smoothed more: it locates the impact peak, so that
        soft-tissue wobble after contact is not taken for the peak; the
        value and the slope are then read from ``force_bw`` around it.
    """
    if force_bw.size < 4:
        return Impact(float("nan"), float("nan"), float("nan"))
    # Smoothing lowers a small impact hump's prominence, so the smoothed
    # signal is searched with half the prominence.
    if smooth_bw is None:
        i_peak = first_local_max(force_bw)
    else:
        i_peak = first_local_max(smooth_bw, IMPACT_PROMINENCE_BW / 2)
    if smooth_bw is not None:
        # The sharper signal's own maximum near the smoothed peak (+-10 ms).
        w = max(int(0.01 * sampling_rate_hz), 1)
        lo = max(i_peak - w, 0)
        i_peak = lo + int(np.argmax(force_bw[lo:i_peak + w + 1]))
    peak = float(force_bw[i_peak])
    head = force_bw[: i_peak + 1]
    t20 = rise_time_s(head, 0.2 * peak, sampling_rate_hz)
    t80 = rise_time_s(head, 0.8 * peak, sampling_rate_hz)
    rate = 0.6 * peak / (t80 - t20) if t80 > t20 else float("nan")
    return Impact(float(force_bw.max()), peak, float(rate))


# Loading rate stays in the step table, out of the summary, flags and cues (issue 11, item 7).
LOADING_RATE_EXPERIMENTAL = (
    "experimental, left out of the summary: from the pelvis it is 33-89 % low on impact transients 20-50 ms wide "
    "(the project's simulator) and about 4 times low on an outside simulator's 35-ms transient; wearable "
    "estimates disagree with force plates by more than 65 % (Kiernan, Ng & Hawkins 2023)")

# Momentum: over a step the ground's impulse is body weight x step time, all of it in stance (the
# centre of mass is in free fall in flight).  A sensor that moves with the centre of mass shows it within
# a few per cent (1.00-1.02 on both simulators: the vertical's estimate, 10 degrees off, costs 1.5 %); a
# sacral sensor on soft tissue moves part of it into the flight (1.02-1.05 on our simulator), and the
# force treadmill's sacral signals give 1.06-1.36.
IMPULSE_TOLERANCE = 0.03
SPRING_MASS_BAND = (0.85, 1.2)  # force-plate peak / spring-mass peak, with margin (see the module's docstring)
PELVIS_ACC, SPRING_MASS = "pelvis_acc", "spring_mass"


def spring_mass_peak_bw(contact_s: np.ndarray, step_s: np.ndarray, step_impulse: np.ndarray | float = 1.0
                        ) -> np.ndarray:
    """Peak vertical force of a half-sine stance that carries the body through the step, BW (Morin et al. 2005).

    ``step_impulse`` is the step's vertical impulse / (body weight x step
    time): 1 in steady running over a stride, but a left and a right step
    need not be alike (`step_impulse_factor`).
    """
    return np.pi / 2 * np.asarray(step_s, float) / np.asarray(contact_s, float) * np.asarray(step_impulse, float)


STEP_IMPULSE_RANGE = (0.8, 1.2)  # outside it the step mean is not a step's momentum (a gap, a stop): 1 is used


def step_impulse_factor(time_s: np.ndarray, f_vert_mps2: np.ndarray, step_s: tuple[np.ndarray, np.ndarray],
                        stride_s: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per step, its vertical impulse / (body weight x step time).

    Momentum: the ground's impulse over a step is ``m (g T + dv)``, where
    ``dv`` is the centre of mass' vertical velocity gained over the step -
    zero over a stride in steady running, but not over one step when left
    and right differ (on a force treadmill the peak / spring-mass ratio of
    successive steps alternates, lag-1 correlation -0.6 to -0.9).  The
    sensor's mean vertical specific force over the step is ``g + dv / T``;
    over the stride that holds the step it is ``g``, so their ratio is the
    factor, and the sensor's own scale error cancels (a sacral sensor on the
    force treadmill averages 1.17 g).  Soft tissue does not change a mean over
    a step (its transmissibility is 1 at 0 Hz).  1 where the signal does not
    cover the stride or the ratio lies outside ``STEP_IMPULSE_RANGE``.

    Parameters
    ----------
    time_s, f_vert_mps2
        The sensor's sample times, s, and vertical specific force, m/s^2.
    step_s, stride_s
        (start, end) times of each step and of the stride that holds it, s.
    """
    t = np.asarray(time_s, float)
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(f_vert_mps2, float))])

    def mean(t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        a, b = np.searchsorted(t, t0), np.searchsorted(t, t1)
        ok = (b > a) & (np.asarray(t0) >= t[0]) & (np.asarray(t1) <= t[-1]) if t.size else np.zeros_like(a, bool)
        return np.where(ok, (cum[b] - cum[a]) / np.maximum(b - a, 1), np.nan)

    f = mean(*step_s) / mean(*stride_s)
    lo, hi = STEP_IMPULSE_RANGE
    return np.where(np.isfinite(f) & (f >= lo) & (f <= hi), f, 1.0)


def choose_peak(pelvis_peak_bw: np.ndarray, contact_s: np.ndarray, step_s: np.ndarray,
                stance_impulse: np.ndarray | None = None, step_impulse: np.ndarray | float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the peak force and the model that gave it.

    The pelvis' own peak where the pelvis passes for the centre of mass -
    its stance impulse carries body weight over the step within
    ``IMPULSE_TOLERANCE`` (of the step's own impulse) and its peak lies within ``SPRING_MASS_BAND`` of
    the spring-mass peak - else the spring-mass peak; without a contact time
    (toe-off not placed) neither can be vouched for: NaN and ``""``.

    Parameters
    ----------
    pelvis_peak_bw
        The pelvis' own peak vertical specific force in stance / g.
    contact_s, step_s
        Contact and step times, s.
    stance_impulse
        The pelvis' vertical specific force integrated over the stance, / (g x step time); None: not checked.
    step_impulse
        The step's own impulse / (body weight x step time) (`step_impulse_factor`); 1: a stride's.
    """
    pelvis = np.asarray(pelvis_peak_bw, float)
    sm = spring_mass_peak_bw(contact_s, step_s, step_impulse)
    lo, hi = SPRING_MASS_BAND
    ratio = pelvis / sm
    agree = (ratio >= lo) & (ratio <= hi)
    if stance_impulse is not None:
        # All of the step's own impulse lies in its stance (the flight is free fall).
        agree &= np.abs(np.asarray(stance_impulse, float) - np.asarray(step_impulse, float)) <= IMPULSE_TOLERANCE
    peak = np.where(agree, pelvis, sm)
    model = np.where(agree, PELVIS_ACC, SPRING_MASS).astype(object)
    none = ~np.isfinite(sm)
    peak[none] = np.nan
    model[none] = ""
    return peak, model
