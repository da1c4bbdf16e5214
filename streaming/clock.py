"""Device time onto the session clock; lost packets found, never interpolated over.

A sensor stamps samples with its own clock (Polar: ns since 2000; Movesense:
ms, u32); the host only knows when notifications arrive, late by a variable
radio and scheduling delay but never early.  So the host-minus-device offset
is estimated from the *lower envelope* of (host arrival - device time):
a straight line fitted to the per-window minima, which also gives the
device clock's drift (tens of ppm).  Sessions of two sensors share the host
clock, and so one session clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ENVELOPE_WINDOW_S = 2.0  # one minimum of the arrival lag per window


@dataclass
class DeviceClock:
    """Fit ``host = offset + (1 + drift) * device`` from packets as they come.

    Only the smallest arrival lag of each ENVELOPE_WINDOW_S window is kept, so
    memory and the cost of :meth:`fit` grow with session length in windows,
    not packets (an hour: 1800 windows).

    Attributes
    ----------
    nominal_rate_hz
        The stream's sample rate, for gap detection.
    gaps
        (start_s, end_s, n_missing) on the device clock.
    n_packets
        Packets seen.
    """

    nominal_rate_hz: float
    gaps: list = field(default_factory=list)
    n_packets: int = 0
    _first_device_s: float | None = None
    _minima: dict = field(default_factory=dict)  # window -> (device time s, lag s)
    _last_device_s: float | None = None

    def add_packet(self, device_time_s: np.ndarray, host_time_s: float) -> None:
        """Record one packet: its samples' device times and the host time it arrived."""
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
        if not self._minima:
            raise ValueError("no packets yet")
        xs, ys = np.array(list(self._minima.values())).T
        if xs.size < 3:
            return float(ys.min()), 0.0
        drift, offset = np.polyfit(xs - xs[0], ys, 1)
        return float(offset - drift * xs[0]), float(drift)

    def to_session(self, device_time_s: np.ndarray) -> np.ndarray:
        """Device times mapped onto the host (session) clock."""
        offset, drift = self.fit()
        device_time_s = np.asarray(device_time_s, float)
        return offset + (1.0 + drift) * device_time_s
