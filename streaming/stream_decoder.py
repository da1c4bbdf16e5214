"""One sensor's consumer side: notification bytes -> samples on the session clock, drops counted."""

from __future__ import annotations

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.clock import DeviceClock

CLOCK_REFIT_S = 0.5
CLOCK_SLEW = 2e-3  # a refit moves the session clock by at most 2 ms per second of data (0.2 %, no jumps)


class StreamDecoder:
    """One sensor's consumer side: bytes -> samples on the session clock, drops counted.

    Parameters
    ----------
    family, rate_hz
        The sensor's family and nominal sample rate, Hz.
    """

    def __init__(self, family, rate_hz: float):
        self.family = family
        self.decoder = family.decoder(rate_hz)
        self.rate_hz = float(self.decoder.rate_hz or rate_hz)
        self.clock = DeviceClock(self.rate_hz)
        self.dropped: list[str] = []  # why each dropped packet was dropped
        self._duplicates = 0
        self._half: dict[int, object] = {}  # Polar: acc or gyr frame waiting for its partner
        self._last_device_s: float | None = None
        self._count = 0  # WitMotion: samples so far, its only clock
        self._last_host_s: float | None = None
        self._prev_host_s = 0.0
        self._fit = None
        self._fit_at = -np.inf
        self._correction = 0.0  # s, the part of a refit not yet slewed into the mapping
        self._last_session_s = -np.inf

    @property
    def duplicates(self) -> int:
        """Repeated or out-of-order notifications ignored, here or by the decoder."""
        return self._duplicates + getattr(self.decoder, "duplicates", 0)

    def feed(self, host_s: float, uuid: str, payload: bytes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Decode one notification; (session time, acc, gyr) blocks. Raises CommandRefused."""
        try:
            decoded = self.decoder.decode(uuid, payload)
        except CommandRefused:
            raise
        except ProtocolError as e:
            self.dropped.append(str(e))
            return []
        # A decoder that holds a packet back for its continuation (Movesense) returns it with the
        # next notification: the packet was complete when the previous notification arrived.
        arrived_s = self._prev_host_s if getattr(self.decoder, "holds_back", False) else host_s
        self._prev_host_s = host_s
        return [b for s in self._pair(decoded) if (b := self._timed(arrived_s, *s)) is not None]

    def flush(self) -> list:
        """Samples a decoder still holds back, at the end of the stream."""
        flushed = getattr(self.decoder, "flush", None)
        try:
            held = [] if flushed is None else flushed()
        except ProtocolError as e:  # the last packet was cut short: counted like any bad packet
            self.dropped.append(str(e))
            held = []
        out = [b for s in self._pair(held) if (b := self._timed(self._prev_host_s, *s)) is not None]
        self.dropped += ["an accelerometer or gyroscope frame without its partner"] * len(self._half)
        self._half.clear()
        return out

    def _pair(self, decoded) -> list[tuple]:
        """(acc, gyr, device time or None) per decoded block; Polar's separate frames joined."""
        out = []
        for s in decoded:
            if s.kind == "imu":
                out.append((s.acc_mps2, s.gyr_radps, s.device_time_s))
                continue
            other = self._half.pop(s.counter, None)
            if other is not None and other.kind == s.kind:
                self._half[s.counter] = other  # the same frame twice: keep one, wait for its partner
                self._duplicates += 1
                continue
            if other is None:
                self._half[s.counter] = s
                if len(self._half) > 8:  # a partner never came: the packet was lost on the way
                    oldest = min(self._half)
                    self._half.pop(oldest)
                    self.dropped.append("an accelerometer or gyroscope frame without its partner")
                continue
            acc, gyr = (s, other) if s.kind == "acc" else (other, s)
            if acc.n != gyr.n:
                self.dropped.append("accelerometer and gyroscope frames of different lengths")
                continue
            out.append((acc.acc_mps2, gyr.gyr_radps, acc.device_time_s))
        return out

    def _timed(self, host_s: float, acc, gyr, device_s):
        n = acc.shape[0]
        if device_s is None:  # no device clock: count samples, re-anchored across silences
            if self._last_host_s is not None and host_s - self._last_host_s > 5.0 / self.rate_hz:
                self._count += int(round((host_s - self._last_host_s) * self.rate_hz)) - n
            device_s = (self._count + np.arange(n)) / self.rate_hz
            self._count += n
            self._last_host_s = host_s
        if self._last_device_s is not None and device_s[0] <= self._last_device_s + 0.25 / self.rate_hz:
            self._duplicates += 1  # a repeated or out-of-order packet: its samples are already written
            return None
        self._last_device_s = float(device_s[-1])
        self.clock.add_packet(device_s, host_s)
        if host_s - self._fit_at >= CLOCK_REFIT_S or self._fit is None:
            new_fit = self.clock.fit()
            if self._fit is not None:
                # A better fit must not make time jump: absorb the change here, then slew it away.
                d = float(device_s[0])
                self._correction -= (new_fit[0] + (1.0 + new_fit[1]) * d) - (self._fit[0] + (1.0 + self._fit[1]) * d)
            self._fit, self._fit_at = new_fit, host_s
        step = CLOCK_SLEW * n / self.rate_hz
        self._correction -= min(max(self._correction, -step), step)
        offset, drift = self._fit
        t = offset + (1.0 + drift) * device_s + self._correction
        # Time must only go forward, whatever the radio did.
        t = np.maximum(t, self._last_session_s + 1e-6 + np.arange(n) * 1e-6)
        self._last_session_s = float(t[-1])
        return t, acc, gyr
