"""Standing, walking, running or other, from the pelvis sensor alone.

Orientation-free features of the specific-force magnitude |f| (so a sensor
clipped on at any angle, with or without a gyroscope, is classified alike),
over 2-s windows every second on the session clock:

* standing: |f| barely moves (SD < 0.04 g) and is near 1 g;
* running: a flight phase every step: |f| falls below 0.45 g in at least 5 %
  of the window and peaks above 1.5 g, the step period 0.22-0.6 s;
* walking: periodic (autocorrelation of |f| >= 0.3 at a step period of
  0.4-0.9 s, 1.1-2.5 steps/s), no flight;
* other: moving, but neither (turning on the spot, fiddling with the sensor).

Labels are then smoothed: a label must hold for two windows in a row to
start a bout, so one odd window does not chop a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.vectors import row_norms

WINDOW_S = 2.0
HOP_S = 1.0
STILL_SD_G = 0.04
FLIGHT_G, FLIGHT_SHARE, STANCE_PEAK_G = 0.45, 0.05, 1.5
WALK_PERIOD_S = (0.4, 0.9)
RUN_PERIOD_S = (0.22, 0.6)
WALK_AUTOCORR = 0.3
LABELS = ("standing", "walking", "running", "other")


@dataclass
class Activity:
    """Bouts of activity over a session.

    Attributes
    ----------
    bouts
        (start_s, end_s, label) in time order, labels from LABELS.
    """

    bouts: list[tuple[float, float, str]]

    def time_s(self, label: str) -> float:
        """Seconds spent in one activity."""
        return float(sum(e - s for s, e, lab in self.bouts if lab == label))

    @property
    def n_stops(self) -> int:
        """Standing or walking bouts between two running bouts."""
        labels = [lab for _, _, lab in self.bouts]
        runs = [i for i, lab in enumerate(labels) if lab == "running"]
        return sum(1 for a, b in zip(runs, runs[1:]) if b > a + 1)

    def label_at(self, t_s: np.ndarray) -> np.ndarray:
        """The label at each time (``""`` outside the bouts)."""
        out = np.full(np.shape(t_s), "", dtype=object)
        for s, e, lab in self.bouts:
            out[(t_s >= s) & (t_s < e)] = lab
        return out

    def describe(self) -> str:
        """What the session holds, for a message: "120 s standing, 300 s walking, 20 s other movement"."""
        names = {"standing": "standing", "walking": "walking", "running": "running", "other": "other movement"}
        parts = [f"{self.time_s(lab):.0f} s {names[lab]}" for lab in LABELS if self.time_s(lab) >= 0.5]
        return ", ".join(parts) or "too little data to tell"

    def totals(self) -> dict:
        """Seconds per activity and the number of stops (JSON-able)."""
        return {**{f"{lab}_s": self.time_s(lab) for lab in LABELS}, "stops": self.n_stops}


def _period_peak(x: np.ndarray, fs: float, lo_s: float, hi_s: float) -> float:
    """Highest normalised autocorrelation of x at lags within [lo_s, hi_s]."""
    x = x - x.mean()
    den = float(np.dot(x, x))
    if den <= 0:
        return 0.0
    lo, hi = int(lo_s * fs), min(int(hi_s * fs), x.size - 1)
    if hi < lo:
        return 0.0
    # All lags in one call: np.correlate's "full" output at n - 1 + k is sum_j x[j] x[j + k].
    c = np.correlate(x, x, "full")[x.size - 1 + lo:x.size + hi]
    return float(c.max() / den)


def classify_window(norm_g: np.ndarray, fs: float) -> str:
    """Label one window of |f| (g)."""
    if norm_g.std() < STILL_SD_G and abs(norm_g.mean() - 1.0) < 0.1:
        return "standing"
    flight = np.mean(norm_g < FLIGHT_G)
    if flight >= FLIGHT_SHARE and norm_g.max() > STANCE_PEAK_G and _period_peak(norm_g, fs, *RUN_PERIOD_S) > 0.2:
        return "running"
    if flight < FLIGHT_SHARE and _period_peak(norm_g, fs, *WALK_PERIOD_S) >= WALK_AUTOCORR:
        return "walking"
    return "other"


_CODES = ("standing", "walking", "running", "other")


@numba.njit(cache=True, nogil=True)
def _period_peak_kernel(x, fs, lo_s, hi_s):
    n = x.size
    m = x.mean()
    den = 0.0
    for j in range(n):
        den += (x[j] - m) ** 2
    if den <= 0:
        return 0.0
    lo, hi = int(lo_s * fs), min(int(hi_s * fs), n - 1)
    best = -np.inf
    for k in range(lo, hi + 1):
        c = 0.0
        for j in range(n - k):
            c += (x[j] - m) * (x[j + k] - m)
        best = max(best, c)
    return best / den if hi >= lo else 0.0


@numba.njit(cache=True, nogil=True)
def _classify_windows(norm, fs, bounds):
    """:func:`classify_window` for every window [i0, i1) of ``norm``, compiled (an hour has 3,600).

    Returns indices into _CODES; windows of 10 samples or fewer are "other".
    """
    out = np.full(bounds.shape[0], 3, dtype=np.int64)
    for w in range(bounds.shape[0]):
        i0, i1 = bounds[w, 0], bounds[w, 1]
        if i1 - i0 <= 10:
            continue
        x = norm[i0:i1]
        if x.std() < STILL_SD_G and abs(x.mean() - 1.0) < 0.1:
            out[w] = 0
            continue
        flight = (x < FLIGHT_G).sum() / x.size
        if flight >= FLIGHT_SHARE and x.max() > STANCE_PEAK_G and \
                _period_peak_kernel(x, fs, RUN_PERIOD_S[0], RUN_PERIOD_S[1]) > 0.2:
            out[w] = 2
        elif flight < FLIGHT_SHARE and _period_peak_kernel(x, fs, WALK_PERIOD_S[0], WALK_PERIOD_S[1]) >= WALK_AUTOCORR:
            out[w] = 1
    return out


def classify_activity(time_s: np.ndarray, acc_mps2: np.ndarray, sampling_rate_hz: float) -> Activity:
    """Activity bouts of a session from the pelvis sensor's specific force (any frame, m/s^2)."""
    # Features need no more than 50 Hz: decimate (plain striding) to keep long sessions quick.
    step = max(int(sampling_rate_hz // 50), 1)
    time_s, acc_mps2, fs = time_s[::step], acc_mps2[::step], sampling_rate_hz / step
    norm = row_norms(acc_mps2) / GRAVITY_MPS2
    t0 = np.floor(time_s[0])
    starts = np.arange(t0, time_s[-1] - WINDOW_S + 1e-9, HOP_S)
    bounds = np.searchsorted(time_s, np.column_stack([starts, starts + WINDOW_S]))
    codes = _classify_windows(norm, fs, bounds)
    labels = [_CODES[c] for c in codes]
    # Hysteresis: a new label needs two windows in a row.
    smooth = list(labels)
    for i in range(1, len(labels)):
        if labels[i] != smooth[i - 1] and (i + 1 >= len(labels) or labels[i + 1] != labels[i]):
            smooth[i] = smooth[i - 1]
    bouts: list[tuple[float, float, str]] = []
    for s, lab in zip(starts, smooth):
        # Each window speaks for the second at its centre.
        a, b = s + (WINDOW_S - HOP_S) / 2, s + (WINDOW_S + HOP_S) / 2
        if bouts and bouts[-1][2] == lab:
            bouts[-1] = (bouts[-1][0], b, lab)
        else:
            bouts.append((a, b, lab))
    return Activity(bouts)
