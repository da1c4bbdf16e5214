"""The Bluetooth client: find sensors, stream two at once, keep them going, record.

bleak does the Bluetooth.  Notification callbacks only put ``(role, host
time, characteristic, bytes)`` on an asyncio queue; a consumer decodes
(:mod:`stridesense.streaming.devices`), maps device time onto the session
clock (:class:`~stridesense.streaming.clock.DeviceClock`) and writes
(:class:`~stridesense.streaming.recording.SessionWriter`), so a slow disk or
a bad packet never stalls the radio side.  A link that drops is reconnected
with back-off and its stream restarted; the samples measured meanwhile are
lost on the sensor and recorded as a gap (found from the device's own
timestamps), never interpolated over.

Session clock: seconds since the recording started, on the host's monotonic
clock; every device clock is mapped onto it from packet arrival times.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from stridesense.errors import CommandRefused, DeviceError, ProtocolError, RecordingError
from stridesense.imu.data import SensorData
from stridesense.streaming.clock import DeviceClock
from stridesense.streaming.devices import FAMILIES, family_for
from stridesense.streaming.recording import SessionWriter

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # waits between reconnection attempts, then the last one again
RECONNECT_SCAN_S = 2.0  # how long one reconnection attempt looks for the sensor
WRITE_EVERY_S = 0.25  # the consumer batches samples and raw bytes this long before writing
CLOCK_REFIT_S = 0.5
CLOCK_SLEW = 2e-3  # a refit moves the session clock by at most 2 ms per second of data (0.2 %, no jumps)
DEVICE_INFO_FIRMWARE = "00002a26-0000-1000-8000-00805f9b34fb"
NO_BLUEZ_HINT = "is Bluetooth on, and are BlueZ (bluetoothd) and the system D-Bus running?"


@dataclass(frozen=True)
class FoundSensor:
    """One advertising device seen by :func:`scan`."""

    address: str
    name: str
    family: str | None
    rssi: int | None


async def scan(timeout_s: float = 5.0, everything: bool = False) -> list[FoundSensor]:
    """Nearby supported sensors (all devices with ``everything``), strongest signal first."""
    from bleak import BleakScanner
    from bleak.exc import BleakError

    try:
        found = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
    except (BleakError, OSError) as e:
        raise DeviceError(f"cannot scan for Bluetooth devices ({e}); {NO_BLUEZ_HINT}") from None
    out = []
    for device, adv in found.values():
        family = family_for(device.name, list(adv.service_uuids))
        if family is not None or everything:
            out.append(FoundSensor(device.address, device.name or "", family.name if family else None, adv.rssi))
    return sorted(out, key=lambda s: -(s.rssi if s.rssi is not None else -999))


@dataclass
class LinkStatus:
    """What the status line shows for one sensor."""

    role: str
    target: str
    name: str = ""
    family: str = ""
    connected: bool = False
    notifications: int = 0
    samples: int = 0
    lost_samples: int = 0
    dropped_packets: int = 0
    reconnects: int = 0
    rate_hz: float = 0.0
    _recent: list = field(default_factory=list)  # (host time, samples) over the last seconds


class SensorLink:
    """One sensor: find it, connect, start its stream, and reconnect after drop-outs.

    Parameters
    ----------
    role
        "pelvis" or "trunk".
    target
        Bluetooth address or advertised name.
    rate_hz
        Wanted sample rate; the family picks its nearest.
    queue
        Where notifications go, as ``(role, host_monotonic_s, char_uuid, bytes)``;
        link events go as ``(role, host_monotonic_s, None, event_dict)``.
    """

    def __init__(self, role: str, target: str, rate_hz: float, queue: asyncio.Queue, *,
                 connect_timeout_s: float = 15.0):
        self.role, self.target, self.rate_hz, self.queue = role, target, rate_hz, queue
        self.connect_timeout_s = connect_timeout_s
        self.status = LinkStatus(role, target)
        self.family = None
        self.device = None
        self.firmware: str | None = None
        self._client = None
        self._lost = asyncio.Event()
        self._closing = False

    def _matches(self, device, adv) -> bool:
        t = self.target.strip()
        return device.address.upper() == t.upper() or (device.name or "") == t

    async def _find(self, timeout_s: float):
        """(device, advertisement) of the first match within ``timeout_s``, or None."""
        from bleak import BleakScanner

        found = asyncio.get_running_loop().create_future()

        def seen(device, adv) -> None:
            if not found.done() and self._matches(device, adv):
                found.set_result((device, adv))

        async with BleakScanner(detection_callback=seen):
            try:
                return await asyncio.wait_for(found, timeout_s)
            except asyncio.TimeoutError:
                return None

    async def open(self) -> None:
        """Find and connect the sensor and start streaming; DeviceError if it cannot be done."""
        from bleak.exc import BleakError

        try:
            found = await self._find(self.connect_timeout_s)
        except (BleakError, OSError) as e:
            raise DeviceError(f"{self.role} sensor {self.target!r}: cannot scan for Bluetooth devices ({e}); "
                              f"{NO_BLUEZ_HINT}", self.target) from None
        if found is None:
            raise DeviceError(f"{self.role} sensor {self.target!r} was not found within {self.connect_timeout_s:g} s; "
                              "is it switched on, charged and near?", self.target)
        self.device, adv = found
        self.family = family_for(self.device.name, list(adv.service_uuids))
        if self.family is None:
            raise DeviceError(f"{self.role} sensor {self.target!r} ({self.device.name}) is not a supported sensor; "
                              f"supported: {', '.join(FAMILIES)}", self.target)
        self.status.name, self.status.family = self.device.name or "", self.family.name
        try:
            await self._connect()
        except (BleakError, OSError, asyncio.TimeoutError) as e:
            raise DeviceError(f"{self.role} sensor {self.target!r}: cannot connect or start streaming ({e})",
                              self.target) from None

    async def _connect(self) -> None:
        from bleak import BleakClient

        self._lost.clear()
        client = BleakClient(self.device, disconnected_callback=lambda _c: self._lost.set(), timeout=10.0)
        await client.connect()
        try:
            if self.firmware is None and client.services.get_characteristic(DEVICE_INFO_FIRMWARE) is not None:
                self.firmware = bytes(await client.read_gatt_char(DEVICE_INFO_FIRMWARE)).decode(errors="replace")
            for uuid in self.family.notify_uuids:
                await client.start_notify(uuid, self._callback(uuid))
            for char, payload in self.family.start_commands(self.rate_hz):
                await client.write_gatt_char(char, payload, response=True)
        except BaseException:
            await _quietly(client.disconnect())
            raise
        self._client = client
        self.status.connected = True

    def _callback(self, uuid: str):
        role, put = self.role, self.queue.put_nowait

        def on_notify(_char, data: bytearray) -> None:
            put((role, time.monotonic(), uuid, bytes(data)))  # nothing else here: the radio side must not wait

        return on_notify

    async def keep_alive(self) -> None:
        """Reconnect with back-off whenever the link drops, until :meth:`close`."""
        from bleak.exc import BleakError

        while not self._closing:
            await self._lost.wait()
            if self._closing:
                return
            self.status.connected = False
            self.queue.put_nowait((self.role, time.monotonic(), None, {"kind": "disconnect"}))
            lost, self._client = self._client, None
            if lost is not None:
                await _quietly(lost.disconnect())  # releases the client's own D-Bus connection
            attempt = 0
            while not self._closing:
                await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
                try:
                    found = await self._find(RECONNECT_SCAN_S)
                    if found is None or self._closing:
                        continue
                    self.device = found[0]
                    await self._connect()
                except (BleakError, OSError, asyncio.TimeoutError):
                    continue
                self.status.reconnects += 1
                self.queue.put_nowait((self.role, time.monotonic(), None,
                                       {"kind": "reconnect", "attempts": attempt}))
                break

    async def close(self) -> None:
        """Stop the stream and disconnect (best effort: the sensor may be gone)."""
        self._closing = True
        self._lost.set()
        client, self._client = self._client, None
        if client is None:
            return
        for char, payload in getattr(self.family, "stop_commands", lambda: [])():
            await _quietly(client.write_gatt_char(char, payload, response=True))
        await _quietly(client.disconnect())
        self.status.connected = False


async def _quietly(coro) -> None:
    try:
        await asyncio.wait_for(coro, 5.0)
    except Exception:  # noqa: BLE001 - closing a link that may already be gone
        pass


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


@dataclass
class RecordResult:
    """What a recording left behind."""

    folder: Path
    duration_s: float
    status: dict[str, LinkStatus]


def session_folder(out: str | Path, runner: str) -> Path:
    """A new session folder under ``out``, named for the runner and the start time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{(runner or 'session').replace('/', '_')}-{stamp}"
    folder, k = base, 1
    while folder.exists():
        k += 1
        folder = base.with_name(f"{base.name}-{k}")
    return folder


class Recorder:
    """Stream a pelvis and a trunk sensor into a session folder until stopped.

    Parameters
    ----------
    sensors
        role -> address or name.
    folder
        The session folder to create.
    runner, mass_kg
        Who runs, and their body mass (kg).
    rate_hz
        Wanted sample rate of both sensors, Hz.
    connect_timeout_s
        How long to look for each sensor at the start.
    on_samples
        Called in the event loop with ``(role, SensorData)`` for each notification's decoded samples, as
        written (the live analysis); it must return at once.
    """

    def __init__(self, sensors: dict[str, str], folder: str | Path, *, runner: str = "", mass_kg: float = 70.0,
                 rate_hz: float = 208.0, connect_timeout_s: float = 15.0, on_samples=None):
        self.on_samples = on_samples
        self.folder = Path(folder)
        self.runner, self.mass_kg, self.rate_hz = runner, mass_kg, rate_hz
        self.queue: asyncio.Queue = asyncio.Queue()
        self.links = {role: SensorLink(role, target, rate_hz, self.queue, connect_timeout_s=connect_timeout_s)
                      for role, target in sensors.items()}
        self.stop = asyncio.Event()
        self.t0 = time.monotonic()
        self.t0_unix_s = time.time()
        self.writer: SessionWriter | None = None
        self._streams: dict[str, StreamDecoder] = {}
        self._pending: dict[str, list] = {}
        self._raw: dict[str, tuple[list, list, list]] = {}
        self._gaps_seen: dict[str, int] = {}
        self._drops_seen: dict[str, int] = {}
        self.error: Exception | None = None

    @property
    def status(self) -> dict[str, LinkStatus]:
        return {role: link.status for role, link in self.links.items()}

    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    async def run(self, duration_s: float | None = None, on_status=None, status_every_s: float = 0.5) -> RecordResult:
        """Connect both sensors, record until :attr:`stop` is set or ``duration_s`` passed, close cleanly.

        Raises
        ------
        DeviceError
            A sensor was not found, could not be started, or refused a command.
        RecordingError
            The session could not be written (what was written is kept).
        """
        opened = await asyncio.gather(*(link.open() for link in self.links.values()), return_exceptions=True)
        failed = [e for e in opened if isinstance(e, BaseException)]
        if failed:
            await asyncio.gather(*(link.close() for link in self.links.values()))
            raise failed[0]
        self.writer = SessionWriter(self.folder, runner=self.runner, mass_kg=self.mass_kg, sensors=[
            {"role": role, "has_gyro": True, "family": link.family.name, "address": link.device.address,
             "name": link.device.name or "", "firmware": link.firmware or "unknown",
             "nominal_rate_hz": self._stream(role).rate_hz, "experimental_decoder": link.family.experimental}
            for role, link in self.links.items()], meta={"recorded_with": "stridesense record",
                  "session_clock_zero_unix_s": self.t0_unix_s})
        keepers = [asyncio.create_task(link.keep_alive()) for link in self.links.values()]
        consumer = asyncio.create_task(self._consume())
        deadline = None if duration_s is None else self.t0 + duration_s
        try:
            while not self.stop.is_set() and not consumer.done():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._update_rates()
                if on_status is not None:
                    on_status(self)
                try:
                    await asyncio.wait_for(self.stop.wait(), status_every_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            await asyncio.gather(*(link.close() for link in self.links.values()))
            for k in keepers:
                k.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
            if not consumer.done():
                self.queue.put_nowait(None)
            await asyncio.gather(consumer, return_exceptions=True)
            self._finish()
        if self.error is not None:
            raise self.error
        return RecordResult(self.folder, self.elapsed_s(), self.status)

    def _stream(self, role: str) -> StreamDecoder:
        if role not in self._streams:
            self._streams[role] = StreamDecoder(self.links[role].family, self.rate_hz)
        return self._streams[role]

    async def _consume(self) -> None:
        next_write = time.monotonic() + WRITE_EVERY_S
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self.queue.get(), max(0.0, next_write - time.monotonic()))
                except asyncio.TimeoutError:
                    item = ...
                if item is None:
                    return
                if item is not ...:
                    self._handle(*item)
                if time.monotonic() >= next_write:
                    self._write()
                    next_write = time.monotonic() + WRITE_EVERY_S
        except (RecordingError, DeviceError) as e:
            self.error = e
            self.stop.set()

    def _handle(self, role: str, host_s: float, uuid: str | None, payload) -> None:
        t = host_s - self.t0
        if uuid is None:  # a link event
            self.writer.event(payload.pop("kind"), role=role, session_time_s=round(t, 4), **payload)
            return
        raw = self._raw.setdefault(role, ([], [], []))
        raw[0].append(t)
        raw[1].append(uuid)
        raw[2].append(payload)
        status = self.links[role].status
        status.notifications += 1
        stream = self._stream(role)
        try:
            blocks = stream.feed(t, uuid, payload)
        except CommandRefused as e:
            self.writer.event("refused", role=role, session_time_s=round(t, 4), reason=str(e), payload=payload.hex())
            raise DeviceError(f"{role} sensor {self.links[role].target!r}: {e}", self.links[role].target) from None
        self._account(role, stream)
        self._pending.setdefault(role, []).extend(blocks)
        self._deliver(role, blocks)

    def _deliver(self, role: str, blocks: list) -> None:
        if self.on_samples is not None and blocks:
            t, acc, gyr = (np.concatenate([b[i] for b in blocks]) for i in range(3))
            self.on_samples(role, SensorData(t, acc, gyr, role))

    def _account(self, role: str, stream: StreamDecoder) -> None:
        status = self.links[role].status
        for reason in stream.dropped[self._drops_seen.get(role, 0):]:
            self.writer.event("dropped_packet", role=role, reason=reason)
        self._drops_seen[role] = len(stream.dropped)
        status.dropped_packets = len(stream.dropped) + stream.duplicates
        gaps = stream.clock.gaps
        for start, end, missing in gaps[self._gaps_seen.get(role, 0):]:
            s0, s1 = stream.clock.to_session(np.array([start, end]))
            self.writer.event("gap", role=role, start_s=round(float(s0), 4), end_s=round(float(s1), 4),
                              missing_samples=int(missing))
            status.lost_samples += int(missing)
        self._gaps_seen[role] = len(gaps)

    def _write(self) -> None:
        for role, (times, uuids, payloads) in self._raw.items():
            if payloads:
                self.writer.append_raw_many(role, list(times), list(uuids), list(payloads))
                times.clear(), uuids.clear(), payloads.clear()
        for role, blocks in self._pending.items():
            if not blocks:
                continue
            t = np.concatenate([b[0] for b in blocks])
            acc = np.concatenate([b[1] for b in blocks])
            gyr = np.concatenate([b[2] for b in blocks])
            blocks.clear()
            self.writer.append(role, SensorData(t, acc, gyr, role))
            status = self.links[role].status
            status.samples += t.size
            status._recent.append((time.monotonic(), t.size))

    def _update_rates(self) -> None:
        now = time.monotonic()
        for status in self.status.values():
            status._recent = [(h, n) for h, n in status._recent if now - h <= 3.0]
            span = min(3.0, now - self.t0)
            status.rate_hz = sum(n for _, n in status._recent) / span if span > 0.5 else 0.0

    def _finish(self) -> None:
        if self.writer is None:
            return
        try:
            if self.error is None:
                for role, stream in self._streams.items():
                    held = stream.flush()
                    self._pending.setdefault(role, []).extend(held)
                    self._deliver(role, held)
                self._write()
            for role, stream in self._streams.items():
                if stream.clock.n_packets:
                    offset, drift = stream.clock.fit()
                    self.writer.update_sensor(role, clock_offset_s=offset, clock_drift_ppm=drift * 1e6,
                                              samples=self.links[role].status.samples,
                                              lost_samples=self.links[role].status.lost_samples,
                                              dropped_packets=self.links[role].status.dropped_packets,
                                              reconnects=self.links[role].status.reconnects)
        except (RecordingError, DeviceError) as e:
            self.error = self.error or e
        finally:
            self.writer.close()


async def release_bluetooth() -> None:
    """Close bleak's D-Bus connection of the running event loop.

    bleak keeps one per event loop and closes it only when a later loop
    starts using Bluetooth; a process that runs several loops (our command
    line in tests, notebooks) would leave the socket open meanwhile.
    """
    try:
        from bleak.backends.bluezdbus import manager
    except ImportError:  # not Linux
        return
    instance = manager._global_instances.pop(asyncio.get_running_loop(), None)
    if instance is not None and instance._bus is not None:
        instance._bus.disconnect()


def scan_now(timeout_s: float = 5.0, everything: bool = False) -> list[FoundSensor]:
    """:func:`scan` in a fresh event loop."""

    async def main():
        try:
            return await scan(timeout_s, everything)
        finally:
            await release_bluetooth()

    return asyncio.run(main())


def record(sensors: dict[str, str], folder: str | Path, *, duration_s: float | None = None, on_status=None,
           **kwargs) -> RecordResult:
    """Record until Ctrl-C (or ``duration_s``) in a fresh event loop; see :class:`Recorder`."""
    import signal

    async def main():
        recorder = Recorder(sensors, folder, **kwargs)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, recorder.stop.set)
        try:
            return await recorder.run(duration_s, on_status)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await release_bluetooth()

    return asyncio.run(main())
