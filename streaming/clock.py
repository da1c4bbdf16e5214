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

    Attributes
    ----------
    nominal_rate_hz
        The stream's sample rate, for gap detection.
    gaps
        (start_s, end_s, n_missing) on the device clock.
    """

    nominal_rate_hz: float
    gaps: list = field(default_factory=list)
    _device: list = field(default_factory=list)
    _lag: list = field(default_factory=list)
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
        # The packet left the device after its last sample: that sample bounds the lag.
        self._device.append(float(device_time_s[-1]))
        self._lag.append(host_time_s - float(device_time_s[-1]))

    def fit(self) -> tuple[float, float]:
        """(offset_s, drift) of host = offset + (1 + drift) * device, from the arrival-lag envelope."""
        d, lag = np.asarray(self._device), np.asarray(self._lag)
        if d.size == 0:
            raise ValueError("no packets yet")
        bins = np.floor((d - d[0]) / ENVELOPE_WINDOW_S).astype(int)
        xs, ys = [], []
        for b in np.unique(bins):
            m = bins == b
            i = int(np.argmin(lag[m]))
            xs.append(d[m][i])
            ys.append(lag[m][i])
        xs, ys = np.asarray(xs), np.asarray(ys)
        if xs.size < 2:
            return float(ys[0]), 0.0
        drift, offset = np.polyfit(xs - xs[0], ys, 1)
        return float(offset - drift * xs[0]), float(drift)

    def to_session(self, device_time_s: np.ndarray) -> np.ndarray:
        """Device times mapped onto the host (session) clock."""
        offset, drift = self.fit()
        device_time_s = np.asarray(device_time_s, float)
        return offset + (1.0 + drift) * device_time_s
