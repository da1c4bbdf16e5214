"""One sensor's consumer side: notification bytes -> samples on the session clock, drops counted."""

from __future__ import annotations

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.clock import DeviceClock, SampleCounter


class StreamDecoder:
    """One sensor's consumer side: bytes -> samples on the session clock, drops counted.

    Parameters
    ----------
    family, rate_hz
        The sensor's family and nominal sample rate, Hz.
    """

    def __init__(self, family, rate_hz: float, clock_fit: tuple | None = None):
        self.family = family
        self.decoder = family.decoder(rate_hz)
        self.rate_hz = float(self.decoder.rate_hz or rate_hz)
        self.clock = DeviceClock(self.rate_hz, fixed=clock_fit)
        self.dropped: list[str] = []  # why each dropped packet was dropped
        self._duplicates = 0
        self._half: dict[int, object] = {}  # Polar: acc or gyr frame waiting for its partner
        self._last_device_s: float | None = None
        self._counter = SampleCounter(self.rate_hz)  # WitMotion: samples counted, its only clock
        self._prev_host_s = 0.0

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
        return [b for s in self._pair(decoded) for b in self._timed(arrived_s, *s)]

    def flush(self) -> list:
        """Samples a decoder still holds back, at the end of the stream."""
        flushed = getattr(self.decoder, "flush", None)
        try:
            held = [] if flushed is None else flushed()
        except ProtocolError as e:  # the last packet was cut short: counted like any bad packet
            self.dropped.append(str(e))
            held = []
        out = [b for s in self._pair(held) for b in self._timed(self._prev_host_s, *s)]
        out += [b for d, h, (a, g) in self._counter.flush() for b in self._timed(h, a, g, d)]
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

    def _timed(self, host_s: float, acc, gyr, device_s) -> list:
        if device_s is None:  # no device clock: samples counted, silences judged by what follows
            self.clock.max_drift = self._counter.MAX_DRIFT
            released = self._counter.push(host_s, acc.shape[0], (acc, gyr))
            return [b for d, h, (a, g) in released for b in self._timed(h, a, g, d)]
        if self._last_device_s is not None and device_s[0] <= self._last_device_s + 0.25 / self.rate_hz:
            self._duplicates += 1  # a repeated or out-of-order packet: its samples are already written
            return []
        self._last_device_s = float(device_s[-1])
        return [(self.clock.map(device_s, host_s), acc, gyr)]
