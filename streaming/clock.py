"""Device time onto the session clock; lost packets found, never interpolated over.

A sensor stamps samples with its own clock (Polar: ns since 2000; Movesense:
ms, u32); the host only knows when notifications arrive, late by a variable
radio and scheduling delay but never early.  So the host-minus-device offset
is estimated from the *lower envelope* of (host arrival - device time): the
line that lies under every arrival lag and as close to them as possible (a
linear programme, solved by the lower convex hull; Moon, Skelly & Towsley
1999, "Estimation and removal of clock skew from network delay
measurements"), which also gives the device clock's drift (tens of ppm).  A
late arrival can only lie above the line, so a stalled host never drags it.
Sessions of two sensors share the host clock, and so one session clock.

A sensor without a clock (WitMotion) gets one from :class:`SampleCounter`:
its samples are counted, and a silence is taken as lost samples only if the
stream comes back late for good, not when a delayed burst catches up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ENVELOPE_WINDOW_S = 2.0  # one minimum of the arrival lag per window
MAX_DRIFT = 2e-4  # sensor crystals are good to tens of ppm: a steeper envelope is noise (or a stall)
DRIFT_AFTER_S, DRIFT_RAMP_S = 10.0, 30.0  # drift believed only after 10 s of data, fully after 40 s
REFIT_S = 0.5  # the live mapping is refitted this often (host time)
SLEW = 4e-3  # a refit moves the live mapping later by at most 4 ms per second of data (0.4 %, no jumps)
SLEW_EARLIER = 2e-2  # ... and earlier by 20 ms a second (2 %): an arrival is never early, so a lower lag is sure


def lower_envelope(x: np.ndarray, y: np.ndarray, max_slope: float = MAX_DRIFT) -> tuple[float, float]:
    """(intercept, slope) of the line under every (x, y) minimising the summed distance to them.

    The optimum supports the lower convex hull at the mean of ``x``; a slope
    beyond ``max_slope`` is clipped and the line lowered under every point.
    """
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if x.size == 1 or np.ptp(x) == 0:
        return float(y.min()), 0.0
    hull: list[int] = []
    for i in range(x.size):  # Andrew's monotone chain, lower half
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    xm = x.mean()
    k = int(np.searchsorted(x[hull], xm, side="right"))
    a, b = hull[max(k - 1, 0)], hull[min(k, len(hull) - 1)]
    if a == b:
        a, b = hull[0], hull[1]
    slope = float(np.clip((y[b] - y[a]) / (x[b] - x[a]), -max_slope, max_slope))
    return float(np.min(y - slope * x)), slope


@dataclass
class DeviceClock:
    """Fit ``host = offset + (1 + drift) * device`` from packets as they come.

    Only the smallest arrival lag of each ENVELOPE_WINDOW_S window is kept, so
    memory and the cost of :meth:`fit` grow with session length in windows,
    not packets (an hour: 1800 windows).  :meth:`map` gives live session
    times; with ``fixed`` (a final fit) it maps with that fit alone.

    Attributes
    ----------
    nominal_rate_hz
        The stream's sample rate, for gap detection.
    fixed
        (offset_s, drift) to map with instead of the live estimate (re-decoding).
    max_drift
        Steepest drift believed (a counted clock is only as good as the nominal rate).
    gaps
        (start_s, end_s, n_missing) on the device clock.
    gap_edges_s
        The same gaps' (start, end) on the session clock, as the samples around them were mapped.
    n_packets
        Packets seen.
    """

    nominal_rate_hz: float
    fixed: tuple | None = None
    max_drift: float = MAX_DRIFT
    gaps: list = field(default_factory=list)
    gap_edges_s: list = field(default_factory=list)
    n_packets: int = 0
    _first_device_s: float | None = None
    _minima: dict = field(default_factory=dict)  # window -> (device time s, lag s)
    _last_device_s: float | None = None
    _fit: tuple | None = None
    _fit_at: float = -np.inf
    _correction: float = 0.0  # s, the part of a refit not yet slewed into the mapping
    _last_session_s: float = -np.inf

    def add_packet(self, device_time_s: np.ndarray, host_time_s: float, observe: bool = True) -> None:
        """Record one packet: its samples' device times and the host time it arrived.

        ``observe=False``: samples whose arrival says nothing of the clock (they
        waited on the host for another stream's frame, see :meth:`observe`).
        """
        device_time_s = np.asarray(device_time_s, float)
        if device_time_s.size == 0:
            return
        if self._last_device_s is not None:
            gap = device_time_s[0] - self._last_device_s
            period = 1.0 / self.nominal_rate_hz
            if gap > 1.5 * period:
                self.gaps.append((self._last_device_s, float(device_time_s[0]), int(round(gap / period)) - 1))
        self._last_device_s = float(device_time_s[-1])
        self.n_packets += 1
        if observe:
            self.observe(device_time_s, host_time_s)

    def observe(self, device_time_s: np.ndarray, host_time_s: float) -> None:
        """One frame's arrival: the lag of its last sample, for the envelope (no gap bookkeeping)."""
        device_time_s = np.asarray(device_time_s, float)
        if device_time_s.size == 0:
            return
        # The packet left the device after its last sample: that sample bounds the lag.
        d = float(device_time_s[-1])
        lag = host_time_s - d
        if self._first_device_s is None:
            self._first_device_s = d
        window = int((d - self._first_device_s) // ENVELOPE_WINDOW_S)
        best = self._minima.get(window)
        if best is None or lag < best[1]:
            self._minima[window] = (d, lag)

    def fit(self) -> tuple[float, float]:
        """(offset_s, drift) of host = offset + (1 + drift) * device, from the arrival-lag envelope."""
        if self.fixed is not None:
            return float(self.fixed[0]), float(self.fixed[1])
        if not self._minima:
            raise ValueError("no packets yet")
        xs, ys = np.array(list(self._minima.values())).T
        x0 = xs[0]
        bound = self.max_drift
        if bound <= MAX_DRIFT:
            # Over a few seconds a crystal's drift is far below the noise of the arrival envelope's slope
            # (1 ms over 4 s is 250 ppm): assume none, then let the data speak as it grows.
            bound *= float(np.clip((xs[-1] - x0 - DRIFT_AFTER_S) / DRIFT_RAMP_S, 0.0, 1.0))
        offset, drift = lower_envelope(xs - x0, ys, bound)
        return float(offset - drift * x0), float(drift)

    def to_session(self, device_time_s: np.ndarray) -> np.ndarray:
        """Device times mapped onto the host (session) clock with the current fit."""
        offset, drift = self.fit()
        device_time_s = np.asarray(device_time_s, float)
        return offset + (1.0 + drift) * device_time_s

    def map(self, device_time_s: np.ndarray, host_time_s: float, observe: bool = True) -> np.ndarray:
        """Add a packet and map its samples onto the session clock, forward only, without jumps.

        The fit is renewed every REFIT_S; the change a new fit makes is slewed
        in at SLEW, or SLEW_EARLIER when it makes times earlier: the first
        estimate is late by the first packets' delay, and a lower arrival lag
        is proof (no packet arrives before it was sent).
        """
        device_time_s = np.asarray(device_time_s, float)
        n = device_time_s.size
        n_gaps = len(self.gaps)
        self.add_packet(device_time_s, host_time_s, observe)
        if self.fixed is not None:
            t = self.to_session(device_time_s)
        else:
            if self._fit is None or host_time_s - self._fit_at >= REFIT_S:
                new = self.fit()
                if self._fit is not None:  # absorb the change now, slew it away below
                    d = float(device_time_s[0])
                    self._correction -= (new[0] + (1.0 + new[1]) * d) - (self._fit[0] + (1.0 + self._fit[1]) * d)
                self._fit, self._fit_at = new, host_time_s
            # Slewed sample by sample (a frame can hold hundreds of samples), not in one step a frame.
            step = (SLEW_EARLIER if self._correction > 0 else SLEW) / self.nominal_rate_hz
            k = np.arange(1, n + 1)
            applied = np.clip(self._correction, -step * k, step * k)
            self._correction -= float(applied[-1])
            offset, drift = self._fit
            t = offset + (1.0 + drift) * device_time_s + (self._correction + applied[-1] - applied)
        # Time must only go forward, whatever the radio did.
        t = np.maximum(t, self._last_session_s + 1e-6 + np.arange(n) * 1e-6)
        if len(self.gaps) > n_gaps:
            self.gap_edges_s.append((self._last_session_s, float(t[0])))
        self._last_session_s = float(t[-1])
        return t


class SampleCounter:
    """Device time for a stream without a clock: samples counted, silences judged by what follows.

    Bluetooth retransmits a notification until it arrives or the link is
    lost, so a silence is usually the host (or the radio) holding packets
    back, and a burst follows.  After a silence of more than SILENCE_PERIODS
    sample periods the packets are held for ``settle_s``: if they come back
    on the stream's old arrival schedule (lowest lag as before), nothing was
    lost; if they stay late, the samples the lag grew by were lost.

    Parameters
    ----------
    rate_hz
        The stream's nominal rate, Hz.
    settle_s
        How long to watch the stream after a silence before deciding.
    """

    SILENCE_PERIODS = 5
    MAX_DRIFT = 0.05  # the sensor's true rate may be a few % off its nominal one
    MIN_LOSS_PERIODS = 3  # a later lag by less is the host's jitter, not lost samples

    def __init__(self, rate_hz: float, settle_s: float = 0.3):
        self.rate_hz, self.settle_s = float(rate_hz), settle_s
        self.count = 0  # index of the next sample
        self._last_host_s: float | None = None
        self._recent: list = []  # (host s, lag s) of the last ENVELOPE_WINDOW_S
        self._held: list = []  # (host s, n, item) since the silence
        self._silence_s = 0.0

    def push(self, host_s: float, n: int, item) -> list[tuple[np.ndarray, float, object]]:
        """One packet of ``n`` samples; (device times, host time, item) of the packets released."""
        silent = self._last_host_s is not None and host_s - self._last_host_s > self.SILENCE_PERIODS / self.rate_hz
        if not self._held and silent and self._recent:
            self._silence_s = host_s - self._last_host_s
        self._last_host_s = host_s
        if self._held or (silent and self._recent):
            self._held.append((host_s, n, item))
            if host_s - self._held[0][0] >= self.settle_s:
                return self._release()
            return []
        return [self._count(host_s, n, item)]

    def flush(self) -> list[tuple[np.ndarray, float, object]]:
        """Whatever is held, decided on what came."""
        return self._release() if self._held else []

    def _release(self) -> list:
        baseline = min(lag for _, lag in self._recent)
        ends = self.count + np.cumsum([n for _, n, _ in self._held]) - 1
        late = min(h - e / self.rate_hz for (h, _, _), e in zip(self._held, ends)) - baseline
        lost = int(round(late * self.rate_hz)) if late > self.MIN_LOSS_PERIODS / self.rate_hz else 0
        self.count += min(max(lost, 0), int(round(self._silence_s * self.rate_hz)))
        held, self._held = self._held, []
        return [self._count(h, n, item) for h, n, item in held]

    def _count(self, host_s: float, n: int, item):
        device_s = (self.count + np.arange(n)) / self.rate_hz
        self.count += n
        self._recent.append((host_s, host_s - device_s[-1]))
        while self._recent[0][0] < host_s - ENVELOPE_WINDOW_S:
            self._recent.pop(0)
        return device_s, host_s, item
