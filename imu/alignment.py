"""Putting two sensors on one clock from their signals.

Sensors logged by different apps or devices keep unrelated clocks (a phone's
epoch seconds, a sensor's milliseconds since power-on).  The impacts of
running reach the pelvis and the trunk at the same instants, so the
high-passed acceleration magnitudes of the two sensors line up at the clocks'
offset: a cross-correlation over the whole session finds it, and the same
over 20-s windows (shorter in a short session) finds how it changes along the run (clock drift).  The share
of windows that agree with the fitted offset line is the confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal, stats

from stridesense.imu.data import SensorData
from stridesense.imu.vectors import row_norms

ALIGN_RATE_HZ = 200.0  # both magnitudes are compared on this grid (5 ms; peaks refined below a sample)
WINDOW_S = 20.0  # windows in which the local offset is measured (drift) ...
MIN_WINDOW_S = 5.0  # ... shorter in a short session, so that it has MIN_WINDOWS of them
LOCAL_SEARCH_S = 0.12  # local offsets are searched this far around the global one (under half a step)
AGREE_MS = 8.0  # a window agrees when its offset is this close to the fitted line
MIN_WINDOWS = 3
MIN_CONFIDENCE = 0.6  # share of active windows that must agree
MIN_WINDOW_CORR = 0.3  # a window's best correlation below this carries no timing
N_CANDIDATES = 5  # global correlation peaks tried
MAX_SPAN_S = 6 * 3600.0  # the signals compared are at most this long (bounds the work)


@dataclass(frozen=True)
class ClockAlignment:
    """How the trunk's clock maps onto the pelvis': ``t_pelvis = t_trunk + offset_s + drift * (t_trunk - ref_s)``.

    Attributes
    ----------
    offset_s
        Offset at ``ref_s`` (trunk clock), s.
    drift_ppm
        Rate difference of the clocks, parts per million.
    ref_s
        Trunk time of the offset, s (the middle of the windows used).
    confidence
        Share of the windows with running whose own offset agrees with the fit (0-1).
    n_windows
        Windows with running in both sensors.
    residual_ms
        Median distance of the agreeing windows' offsets from the fit, ms.
    window_s
        Length of the windows, s.
    """

    offset_s: float
    drift_ppm: float
    ref_s: float
    confidence: float
    n_windows: int
    residual_ms: float
    window_s: float = WINDOW_S

    @property
    def ok(self) -> bool:
        """True when enough windows agree to trust the offset."""
        return self.n_windows >= MIN_WINDOWS and self.confidence >= MIN_CONFIDENCE

    def to_pelvis_clock(self, trunk_time_s: np.ndarray) -> np.ndarray:
        """Trunk sample times on the pelvis' clock."""
        t = np.asarray(trunk_time_s, dtype=float)
        return t + self.offset_s + self.drift_ppm * 1e-6 * (t - self.ref_s)

    def max_shift_s(self, trunk_time_s: np.ndarray) -> float:
        """Largest correction this alignment applies over the given trunk times, s."""
        t = np.asarray(trunk_time_s, dtype=float)
        ends = np.array([t[0], t[-1]])
        return float(np.abs(self.to_pelvis_clock(ends) - ends).max())

    def describe(self) -> str:
        return (f"offset {self.offset_s:+.3f} s, drift {self.drift_ppm:+.0f} ppm, "
                f"{self.confidence:.0%} of {self.n_windows} {self.window_s:.0f}-s windows agree "
                f"(median residual {self.residual_ms:.1f} ms)")


def impact_signal(data: SensorData, rate_hz: float = ALIGN_RATE_HZ) -> tuple[float, np.ndarray]:
    """(start time, samples): |acc| on a uniform grid, its slow part removed and scaled to unit spread.

    Only the first ``MAX_SPAN_S`` of the sensor are used.
    """
    t = data.time_s
    t_end = min(t[-1], t[0] + MAX_SPAN_S)
    n = int((t_end - t[0]) * rate_hz) + 1
    grid = t[0] + np.arange(n) / rate_hz
    mag = np.interp(grid, t, row_norms(data.acc_mps2))
    # Impacts are sharp; posture and pace are slow: a 0.25-s moving mean takes the slow part out.
    slow = ndimage.uniform_filter1d(mag, max(int(0.25 * rate_hz), 1), mode="nearest")
    x = mag - slow
    x = np.clip(x, 0, None)  # the impact peaks carry the timing; the troughs only blur it
    spread = float(np.std(x))
    return float(grid[0]), x / spread if spread > 0 else x


def _refine(c: np.ndarray, i: int) -> float:
    """Sub-sample peak position by a parabola through the peak and its neighbours."""
    if 0 < i < c.size - 1:
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        if den < 0:
            return i + 0.5 * (c[i - 1] - c[i + 1]) / den
    return float(i)


def find_alignment(pelvis: SensorData, trunk: SensorData) -> ClockAlignment:
    """The trunk-to-pelvis clock mapping found from the two sensors' impacts.

    Work is one FFT cross-correlation of the two magnitudes (at most
    ``MAX_SPAN_S`` each) and one short search per window (20 s, shorter in a short session).
    """
    fs = ALIGN_RATE_HZ
    p0, xp = impact_signal(pelvis, fs)
    r0, xr = impact_signal(trunk, fs)
    if xp.size < 2 * fs or xr.size < 2 * fs:
        return ClockAlignment(0.0, 0.0, r0, 0.0, 0, float("nan"))
    window_s = float(np.clip(min(xp.size, xr.size) / fs / (MIN_WINDOWS + 2), MIN_WINDOW_S, WINDOW_S))
    # xp[i + lag] ~ xr[i]: trunk sample i is pelvis sample i + lag.
    c = signal.correlate(xp, xr, mode="full", method="fft")
    lags = signal.correlation_lags(xp.size, xr.size, mode="full")
    # Running is periodic: the best global peak may sit a step off the true offset.  The highest
    # few peaks are candidates; the one most windows agree with wins.
    peaks, _ = signal.find_peaks(c, distance=int(0.1 * fs))
    top = peaks[np.argsort(c[peaks])[::-1][:N_CANDIDATES]] if peaks.size else np.array([int(np.argmax(c))])
    best = None
    for i in top:
        lag0 = lags[0] + _refine(c, int(i))
        found = _fit(*_window_offsets(xp, xr, p0, r0, lag0, fs, window_s), r0, p0 + lag0 / fs - r0, window_s)
        if best is None or (found.confidence, found.n_windows) > (best.confidence, best.n_windows):
            best = found
        if best.ok and best.confidence >= 0.9:
            break
    return best


def _window_offsets(xp, xr, p0, r0, lag0, fs, window_s) -> tuple[np.ndarray, np.ndarray]:
    """(trunk times of the windows' middles, their offsets), for windows with a clear peak near ``lag0``."""
    w = int(window_s * fs)
    half = int(np.ceil(LOCAL_SEARCH_S * fs))
    centres, local = [], []
    ones = np.ones(w)
    for j0 in range(0, xr.size - w + 1, w):
        seg = xr[j0:j0 + w]
        if seg.std() == 0:
            continue
        k0 = j0 + int(round(lag0))  # the pelvis index matching trunk index j0
        a, b = k0 - half, k0 + w + half
        if a < 0 or b > xp.size:
            continue
        ref = xp[a:b]
        cc = signal.correlate(ref, seg, mode="valid")  # 2 * half + 1 lags
        norm = np.sqrt(np.convolve(ref ** 2, ones, mode="valid") * float(seg @ seg))
        cc = np.divide(cc, norm, out=np.zeros_like(cc), where=norm > 0)
        m = int(np.argmax(cc))
        if cc[m] < MIN_WINDOW_CORR or m in (0, cc.size - 1):
            continue  # no clear impact pattern, or the true offset lies outside the search
        lag = a + _refine(cc, m) - j0  # pelvis index minus trunk index
        centres.append(r0 + (j0 + w / 2) / fs)
        local.append(p0 + lag / fs - r0)
    return np.array(centres), np.array(local)


def _fit(centres_a: np.ndarray, local_a: np.ndarray, r0: float, offset0: float, window_s: float) -> ClockAlignment:
    """Offset line through the windows' offsets (Theil-Sen: robust to the odd wrong window)."""
    n_win = local_a.size
    if n_win == 0:
        return ClockAlignment(offset0, 0.0, r0, 0.0, 0, float("nan"), window_s)
    ref_s = float(np.median(centres_a))
    if n_win >= 3:
        slope, intercept, _, _ = stats.theilslopes(local_a, centres_a - ref_s)
    else:
        slope, intercept = 0.0, float(np.median(local_a))
    resid_ms = 1e3 * np.abs(local_a - (intercept + slope * (centres_a - ref_s)))
    agree = resid_ms <= AGREE_MS
    return ClockAlignment(
        offset_s=float(intercept), drift_ppm=float(slope * 1e6), ref_s=ref_s,
        confidence=float(agree.mean()), n_windows=n_win,
        residual_ms=float(np.median(resid_ms[agree])) if agree.any() else float("nan"), window_s=window_s,
    )


SAME_CLOCK_S = 0.025  # a found offset below this on clocks that already overlap is left alone


def overlap_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the shorter of two time spans that the other covers (0 when they do not meet)."""
    inter = min(a[-1], b[-1]) - max(a[0], b[0])
    shorter = min(a[-1] - a[0], b[-1] - b[0])
    return float(max(inter, 0.0) / shorter) if shorter > 0 else 0.0


def align_trunk(pelvis: SensorData, trunk: SensorData) -> tuple[SensorData, ClockAlignment, str | None]:
    """The trunk on the pelvis' clock, the alignment found, and a notice when its clock was changed.

    Sensors whose clocks already overlap and agree (within ``SAME_CLOCK_S``)
    are left as they are.  Clocks that disagree are corrected when the
    windows agree on the offset; otherwise the session is refused.

    Raises
    ------
    InputError
        The clocks do not agree and the signals cannot tell the offset.
    """
    from stridesense.errors import InputError

    found = find_alignment(pelvis, trunk)
    share = overlap_share(pelvis.time_s, trunk.time_s)
    if not found.ok:
        if share >= 0.5:
            return trunk, found, None  # one clock, presumably; nothing in the signals contradicts it
        raise InputError(
            f"the pelvis clock ({_span(pelvis.time_s)}) and the trunk clock ({_span(trunk.time_s)}) "
            f"{'do not overlap' if share == 0 else f'overlap only {share:.0%}'}, and the impacts of running do "
            f"not line them up either ({found.confidence:.0%} of {found.n_windows} {found.window_s:.0f}-s windows "
            "agree; "
            f"{MIN_CONFIDENCE:.0%} of {MIN_WINDOWS} or more needed): export both sensors on one clock, "
            "or check that the two files are from the same run")
    if share >= 0.5 and found.max_shift_s(trunk.time_s) <= SAME_CLOCK_S:
        return trunk, found, None
    moved = SensorData(found.to_pelvis_clock(trunk.time_s), trunk.acc_mps2, trunk.gyr_radps, trunk.role,
                       trunk.source, {**trunk.meta, "clock_alignment": found.describe()})
    return moved, found, f"the trunk sensor's clock was put on the pelvis' clock from the impacts: {found.describe()}"


def _span(t: np.ndarray) -> str:
    return f"{t[0]:.3f}-{t[-1]:.3f} s"
