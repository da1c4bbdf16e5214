"""One sensor's consumer side: notification bytes -> samples on the session clock, drops counted.

Families that send accelerometer and gyroscope in one packet (Movesense,
WitMotion) give blocks directly.  Polar sends them as separate streams, each
frame filled to the MTU on its own, so frames of the two differ in length and
last-sample time: the gyroscope is merged onto the accelerometer's sample
times (linear between its two neighbouring samples, exact when the streams
share sample instants).  Accelerometer samples whose gyroscope neighbours are
missing (a lost gyroscope frame) are dropped and counted; the hole they leave
is a gap of the device clock, as is a lost accelerometer frame.
"""

from __future__ import annotations

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.clock import DeviceClock, SampleCounter

MERGE_WAIT_S = 2.0  # accelerometer samples wait this long for the gyroscope, then are dropped (counted)
NO_GYRO = "accelerometer samples without gyroscope samples around them (a lost gyroscope frame)"
STREAM_NAMES = {2: "accelerometer", 5: "gyroscope"}


class StreamDecoder:
    """One sensor's consumer side: bytes -> samples on the session clock, drops counted.

    Parameters
    ----------
    family, rate_hz
        The sensor's family (model class) and wanted sample rate, Hz.
    clock_fit
        (offset_s, drift) to map device time with instead of the live estimate (re-decoding).

    Attributes
    ----------
    dropped
        Why each dropped packet (or run of unpaired samples) was dropped.
    unpaired
        Accelerometer samples dropped for want of gyroscope samples.
    lead, tail
        Accelerometer samples before the gyroscope's first, and after its last (left at :meth:`flush`).
    ended
        Streams the sensor said it stopped (Polar ``01`` notification), e.g. ["gyroscope"].
    """

    def __init__(self, family, rate_hz: float, clock_fit: tuple | None = None):
        self.family = family
        self.decoder = family.decoder(rate_hz)
        self.rate_hz = float(self.decoder.rate_hz or rate_hz)
        self.has_gyro = bool(getattr(family, "has_gyro", True))
        self.clock = DeviceClock(self.rate_hz, fixed=clock_fit)
        self.dropped: list[str] = []
        self.unpaired = 0
        self.lead = self.tail = 0
        self.ended: list[str] = []
        self._duplicates = 0
        self._acc = (np.empty(0), np.empty((0, 3)))  # separate streams waiting to be merged
        self._gyr = (np.empty(0), np.empty((0, 3)))
        self._last_device_s: float | None = None
        self._counter = SampleCounter(self.rate_hz)  # WitMotion: samples counted, its only clock
        self._prev_host_s = 0.0

    @property
    def duplicates(self) -> int:
        """Repeated or out-of-order notifications ignored, here or by the decoder."""
        return self._duplicates + getattr(self.decoder, "duplicates", 0)

    def feed(self, host_s: float, uuid: str, payload: bytes) -> list[tuple]:
        """Decode one notification; (session time, acc, gyr or None) blocks. Raises CommandRefused."""
        try:
            decoded = self.decoder.decode(uuid, payload)
        except CommandRefused:
            raise
        except ProtocolError as e:
            self.dropped.append(str(e))
            return []
        stopped = getattr(self.decoder, "stopped", None)
        if stopped and len(stopped) > len(self.ended):  # not an error: the sensor ended these streams
            self.ended += [STREAM_NAMES.get(t, f"measurement type {t}") for t in stopped[len(self.ended):]]
        # A decoder that holds a packet back for its continuation (Movesense) returns it with the
        # next notification: the packet was complete when the previous notification arrived.
        arrived_s = self._prev_host_s if getattr(self.decoder, "holds_back", False) else host_s
        self._prev_host_s = host_s
        return self._blocks(arrived_s, decoded)

    def flush(self) -> list:
        """Samples a decoder still holds back, at the end of the stream."""
        flushed = getattr(self.decoder, "flush", None)
        try:
            held = [] if flushed is None else flushed()
        except ProtocolError as e:  # the last packet was cut short: counted like any bad packet
            self.dropped.append(str(e))
            held = []
        out = self._blocks(self._prev_host_s, held)
        out += [b for d, h, (a, g) in self._counter.flush() for b in self._timed(h, a, g, d)]
        self.tail = self._acc[0].size  # the stream's last samples the gyroscope never reached: not a loss
        self._acc = (np.empty(0), np.empty((0, 3)))
        return out

    def _blocks(self, host_s: float, decoded) -> list[tuple]:
        out = []
        for s in decoded:
            if s.kind == "imu" or (s.kind == "acc" and not self.has_gyro):
                out += self._timed(host_s, s.acc_mps2, s.gyr_radps, s.device_time_s)
            else:
                # Each frame's own arrival bounds the clock (a merged block waits for the other stream).
                self.clock.observe(s.device_time_s, host_s)
                if s.kind == "acc":
                    self._acc = _append(self._acc, s.device_time_s, s.acc_mps2, self._last_device_s)
                else:
                    self._gyr = _append(self._gyr, s.device_time_s, s.gyr_radps)
        merged = self._merge() if self.has_gyro else None
        if merged is not None:
            out += self._timed(host_s, *merged, observed=True)
        return out

    def _merge(self):
        """(acc, gyr, device time) of the accelerometer samples the gyroscope has caught up with."""
        (at, av), (gt, gv) = self._acc, self._gyr
        if at.size == 0:
            return None
        period = 1.0 / self.rate_hz
        if gt.size == 0 or at[0] > gt[-1] + 0.5 * period:
            if at[-1] - at[0] > MERGE_WAIT_S:  # the gyroscope stopped: do not hold samples for ever
                old = at < at[-1] - MERGE_WAIT_S
                self._drop_unpaired(int(old.sum()))
                self._acc = (at[~old], av[~old])
            return None
        ready = at <= gt[-1] + 0.5 * period
        t, a = at[ready], av[ready]
        self._acc = (at[~ready], av[~ready])
        hi = np.clip(np.searchsorted(gt, t), 0, gt.size - 1)
        lo = np.clip(hi - 1, 0, gt.size - 1)
        lo = np.where(gt[hi] <= t, hi, lo)  # an exact or last-sample match needs no neighbour below
        span = gt[hi] - gt[lo]
        w = np.divide(t - gt[lo], span, out=np.zeros_like(t), where=span > 0).clip(0.0, 1.0)
        gyr = gv[lo] + w[:, None] * (gv[hi] - gv[lo])
        near = np.minimum(np.abs(t - gt[lo]), np.abs(t - gt[hi]))
        ok = (span <= 1.5 * period) & (near <= 0.5 * period + 1e-9)
        keep = max(0, int(np.searchsorted(gt, t[-1])) - 1)
        self._gyr = (gt[keep:], gv[keep:])
        self._drop_unpaired(int((~ok).sum()))
        if not ok.any():
            return None
        return a[ok], gyr[ok], t[ok]

    def _drop_unpaired(self, n: int) -> None:
        """Count accelerometer samples that had no gyroscope (the clock sees the hole as a gap)."""
        if n and self._last_device_s is None:
            self.lead += n  # before the gyroscope's first sample: the streams started apart, nothing lost
        elif n:
            self.unpaired += n
            self.dropped.append(NO_GYRO)

    def _timed(self, host_s: float, acc, gyr, device_s, observed: bool = False) -> list:
        if device_s is None:  # no device clock: samples counted, silences judged by what follows
            self.clock.max_drift = self._counter.MAX_DRIFT
            released = self._counter.push(host_s, acc.shape[0], (acc, gyr))
            return [b for d, h, (a, g) in released for b in self._timed(h, a, g, d)]
        if self._last_device_s is not None and device_s[0] <= self._last_device_s + 0.25 / self.rate_hz:
            self._duplicates += 1  # a repeated or out-of-order packet: its samples are already written
            return []
        self._last_device_s = float(device_s[-1])
        return [(self.clock.map(device_s, host_s, observe=not observed), acc, gyr)]


def _append(buffer: tuple, t: np.ndarray, values: np.ndarray, after: float | None = None) -> tuple:
    """``buffer`` (times, values) with the samples of ``t`` later than all it holds (and than ``after``)."""
    last = max(buffer[0][-1] if buffer[0].size else -np.inf, -np.inf if after is None else after)
    new = t > last  # a stream restarted or a frame repeated: its samples are already in
    return np.concatenate([buffer[0], t[new]]), np.vstack([buffer[1], values[new]])
