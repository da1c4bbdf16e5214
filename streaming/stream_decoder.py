"""One sensor's consumer side: notification bytes -> samples on the session clock, drops counted.

Families that send accelerometer and gyroscope in one packet (Movesense,
WitMotion) give blocks directly.  Polar sends them as separate streams, each
frame filled to the MTU on its own, so frames of the two differ in length and
last-sample time: the gyroscope is merged onto the accelerometer's sample
times (linear between its two neighbouring samples, exact when the streams
share sample instants).  Accelerometer samples whose gyroscope neighbours are
missing (a lost gyroscope frame) are dropped, counted and recorded as a gap;
a lost accelerometer frame is a gap of the device clock as before.
"""

from __future__ import annotations

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.clock import DeviceClock

CLOCK_REFIT_S = 0.5
CLOCK_SLEW = 2e-3  # a refit moves the session clock by at most 2 ms per second of data (0.2 %, no jumps)
MERGE_WAIT_S = 2.0  # accelerometer samples wait this long for the gyroscope, then are dropped (counted)
NO_GYRO = "accelerometer samples without gyroscope samples around them (a lost gyroscope frame)"


class StreamDecoder:
    """One sensor's consumer side: bytes -> samples on the session clock, drops counted.

    Parameters
    ----------
    family, rate_hz
        The sensor's family (model class) and wanted sample rate, Hz.

    Attributes
    ----------
    dropped
        Why each dropped packet (or run of unpaired samples) was dropped.
    unpaired
        Accelerometer samples dropped for want of gyroscope samples.
    tail
        Accelerometer samples after the gyroscope's last, left at :meth:`flush`.
    ended
        Streams the sensor said it stopped (Polar ``01`` notification), e.g. ["gyroscope"].
    """

    def __init__(self, family, rate_hz: float):
        self.family = family
        self.decoder = family.decoder(rate_hz)
        self.rate_hz = float(self.decoder.rate_hz or rate_hz)
        self.has_gyro = bool(getattr(family, "has_gyro", True))
        self.clock = DeviceClock(self.rate_hz)
        self.dropped: list[str] = []
        self.unpaired = 0
        self.tail = 0
        self.ended: list[str] = []
        self._duplicates = 0
        self._acc = (np.empty(0), np.empty((0, 3)))  # separate streams waiting to be merged
        self._gyr = (np.empty(0), np.empty((0, 3)))
        self._last_device_s: float | None = None
        self._counter = SampleCounter(self.rate_hz)  # the clock of a sensor without one (WitMotion)
        self._prev_host_s = 0.0
        self._fit = None
        self._fit_at = -np.inf
        self._correction = 0.0  # s, the part of a refit not yet slewed into the mapping
        self._last_session_s = -np.inf

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
        self._notice_stopped()
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
        out = self._blocks(self._prev_host_s, held, final=True)
        self.tail = self._acc[0].size  # the stream's last samples the gyroscope never reached: not a loss
        self._acc = (np.empty(0), np.empty((0, 3)))
        return out

    def _notice_stopped(self) -> None:
        stopped = getattr(self.decoder, "stopped", None)
        if stopped and len(stopped) > len(self.ended):
            names = {2: "accelerometer", 5: "gyroscope"}
            self.ended += [names.get(t, f"measurement type {t}") for t in stopped[len(self.ended):]]

    def _blocks(self, host_s: float, decoded, final: bool = False) -> list[tuple]:
        out = []
        clockless = [s for s in decoded if s.device_time_s is None]
        if clockless or final:
            packets = [(host_s, s.acc_mps2, s.gyr_radps) for s in clockless]
            for arrived, acc, gyr, device_s in self._counter.add(packets, final=final):
                block = self._timed(arrived, acc, gyr, device_s)
                if block is not None:
                    out.append(block)
        for s in decoded:
            if s.device_time_s is None:
                continue
            if s.kind == "imu" or (s.kind == "acc" and not self.has_gyro):
                block = self._timed(host_s, s.acc_mps2, s.gyr_radps, s.device_time_s)
                if block is not None:
                    out.append(block)
            elif s.kind == "acc":
                if self._observe(host_s, s.device_time_s):  # the accelerometer carries the clock
                    self._acc = (np.concatenate([self._acc[0], s.device_time_s]),
                                 np.vstack([self._acc[1], s.acc_mps2]))
            else:
                new = s.device_time_s > (self._gyr[0][-1] if self._gyr[0].size else -np.inf)
                self._gyr = (np.concatenate([self._gyr[0], s.device_time_s[new]]),
                             np.vstack([self._gyr[1], s.gyr_radps[new]]))
        merged = self._merge() if self.has_gyro else None
        if merged is not None:
            out.append(merged)
        return out

    def _merge(self):
        """Accelerometer samples the gyroscope has caught up with, with the gyroscope at their times."""
        (at, av), (gt, gv) = self._acc, self._gyr
        if at.size == 0:
            return None
        period = 1.0 / self.rate_hz
        if gt.size == 0 or at[0] > gt[-1] + 0.5 * period:
            if at[-1] - at[0] > MERGE_WAIT_S:  # the gyroscope stopped: do not hold samples for ever
                old = at < at[-1] - MERGE_WAIT_S
                self._drop_unpaired(at[old])
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
        if not ok.all():
            self._drop_unpaired(t[~ok])
        if not ok.any():
            return None
        return self._timed_merged(t[ok], a[ok], gyr[ok])

    def _drop_unpaired(self, t: np.ndarray) -> None:
        """Count accelerometer samples that had no gyroscope, and record them as a gap."""
        if t.size == 0:
            return
        self.unpaired += t.size
        self.dropped.append(NO_GYRO)
        if self._last_session_s > -np.inf:  # samples before the gyroscope's first are a late start, not a gap
            period = 1.0 / self.rate_hz
            self.clock.gaps.append((float(t[0] - period), float(t[-1] + period), int(t.size)))

    def _timed(self, host_s: float, acc, gyr, device_s):
        if not self._observe(host_s, device_s):
            return None
        return self._map(device_s), acc, gyr

    def _timed_merged(self, device_s, acc, gyr):
        return self._map(device_s), acc, gyr

    def _observe(self, host_s: float, device_s: np.ndarray) -> bool:
        """Feed one packet's device times and arrival to the clock; False for a repeat (ignored)."""
        if self._last_device_s is not None and device_s[0] <= self._last_device_s + 0.25 / self.rate_hz:
            self._duplicates += 1  # a repeated or out-of-order packet: its samples are already written
            return False
        self._last_device_s = float(device_s[-1])
        self.clock.add_packet(device_s, host_s)
        if host_s - self._fit_at >= CLOCK_REFIT_S or self._fit is None:
            new_fit = self.clock.fit()
            if self._fit is not None:
                # A better fit must not make time jump: absorb the change here, then slew it away.
                d = float(device_s[0])
                self._correction -= (new_fit[0] + (1.0 + new_fit[1]) * d) - (self._fit[0] + (1.0 + self._fit[1]) * d)
            self._fit, self._fit_at = new_fit, host_s
        return True

    def _map(self, device_s: np.ndarray) -> np.ndarray:
        """Device times onto the session clock, the fit's corrections slewed in; never backwards."""
        n = device_s.size
        step = CLOCK_SLEW * n / self.rate_hz
        self._correction -= min(max(self._correction, -step), step)
        offset, drift = self._fit
        t = offset + (1.0 + drift) * device_s + self._correction
        t = np.maximum(t, self._last_session_s + 1e-6 + np.arange(n) * 1e-6)
        self._last_session_s = float(t[-1])
        return t


class SampleCounter:
    """Device time for a sensor without a clock: its samples counted, a loss told from a late burst.

    A packet arriving more than LATE_SAMPLES sample periods later than the
    recent arrivals (the lowest lag of host arrival minus counted time over
    the last BASELINE_S) is either held up on the way (the host was busy: the
    rest arrives in a burst and the lag comes back) or follows samples that
    never came (the lag stays).  Packets from then on are held until the lag
    comes back (nothing was lost) or stays for SETTLE_S (the lag in sample
    periods is the number lost, skipped in the count so the gap is recorded).
    """

    LATE_SAMPLES = 5
    SETTLE_S = 0.5
    BASELINE_S = 10.0

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self.count = 0
        self._recent: list[tuple[float, float]] = []  # (host s, lag s) of accepted packets
        self._held: list[tuple] = []  # (host s, acc, gyr) after a late one
        self._late_since: float | None = None

    def _baseline(self, host_s: float) -> float | None:
        self._recent = [(h, lag) for h, lag in self._recent if h >= host_s - self.BASELINE_S]
        return min((lag for _, lag in self._recent), default=None)

    def _accept(self, packets: list[tuple], skip: int = 0) -> list[tuple]:
        self.count += skip
        out = []
        for host_s, acc, gyr in packets:
            n = acc.shape[0]
            device_s = (self.count + np.arange(n)) / self.rate_hz
            self.count += n
            self._recent.append((host_s, host_s - self.count / self.rate_hz))
            out.append((host_s, acc, gyr, device_s))
        return out

    def add(self, packets: list[tuple], final: bool = False) -> list[tuple]:
        """``(host s, acc, gyr)`` packets in -> ``(host s, acc, gyr, device s)`` for those whose time is settled."""
        out = []
        period = 1.0 / self.rate_hz
        for packet in packets:
            host_s, acc = packet[0], packet[1]
            if self._late_since is None:
                base = self._baseline(host_s)
                lag = host_s - (self.count + acc.shape[0]) / self.rate_hz
                if base is not None and lag - base > self.LATE_SAMPLES * period:
                    self._late_since, self._held = host_s, [packet]
                else:
                    out += self._accept([packet])
                continue
            self._held.append(packet)
            out += self._settle(host_s, final=False)
        if final and self._held:
            out += self._settle(self._held[-1][0], final=True)
        return out

    def _settle(self, host_s: float, final: bool) -> list[tuple]:
        base = self._baseline(self._late_since)
        counted = self.count
        lags = []
        for h, acc, _ in self._held:  # the lag of each held packet if nothing was lost
            counted += acc.shape[0]
            lags.append(h - counted / self.rate_hz)
        behind = min(lags) - base
        if behind <= 2.0 / self.rate_hz:  # the lag came back: held up on the way, nothing lost
            held, self._held, self._late_since = self._held, [], None
            return self._accept(held)
        if final or host_s - self._late_since >= self.SETTLE_S:
            held, self._held, self._late_since = self._held, [], None
            return self._accept(held, skip=int(round(behind * self.rate_hz)))
        return []
