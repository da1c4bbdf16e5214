"""The Bluetooth client: find sensors, stream two at once, keep them going, record.

bleak does the Bluetooth.  One discovery finds every sensor (bluetoothd
allows one discovery session per D-Bus client, and bleak uses one client
per event loop), then all are connected, then the session folder is set up
and every import done, and only then are the streams started: nothing slow
runs on the event loop once notifications flow.  Notification callbacks only
put ``(role, host time, characteristic, bytes)`` on an asyncio queue; a
consumer decodes (:class:`~stridesense.streaming.stream_decoder.StreamDecoder`),
maps device time onto the session clock and hands the batches to a writer
thread (:class:`~stridesense.streaming.recording.SessionWriter`), so a slow
disk or a bad packet never delays the arrival times the clock is built on.
A link that drops is reconnected with back-off and its stream restarted; the
samples measured meanwhile are lost on the sensor and recorded as a gap
(found from the device's own timestamps), never interpolated over.

Session clock: seconds since the recording started, on the host's monotonic
clock; every device clock is mapped onto it from packet arrival times.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from stridesense.errors import CommandRefused, DeviceError, RecordingError
from stridesense.imu.data import SensorData
from stridesense.streaming.devices import FAMILIES, family_for
from stridesense.streaming.recording import SessionWriter
from stridesense.streaming.stream_decoder import StreamDecoder

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # waits between reconnection attempts, then the last one again
RECONNECT_SCAN_S = 2.0  # how long one reconnection attempt looks for the sensor
WRITE_EVERY_S = 0.25  # the consumer batches samples and raw bytes this long before writing
MAX_QUEUED_WRITES = 40  # batches the writer thread may lag behind (10 s) before the consumer waits for it
STOP_REPLY_S = 0.2  # how long replies to stop commands may trail the writes
STOPPING, STOPPED = "_stopping", "_stopped"  # link-internal events: refusals in between are expected
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


def matches(target: str, address: str, name: str | None) -> bool:
    """True if ``target`` names this device: its address, its full advertised name, or the ID printed on it.

    The ID is the name's last word ("0A3BF1D7" for "Polar Sense 0A3BF1D7",
    the serial number "221830000001" for "Movesense 221830000001").
    """
    t = target.strip()
    if not t:
        return False
    if t.upper().replace("-", ":") == address.upper():
        return True
    name = (name or "").strip()
    return bool(name) and (t == name or (len(name.split()) > 1 and t.upper() == name.split()[-1].upper()))


class Finder:
    """One Bluetooth discovery shared by everyone looking for sensors.

    bluetoothd answers a second StartDiscovery from the same D-Bus client
    with org.bluez.Error.InProgress (BlueZ src/adapter.c, start_discovery),
    and bleak talks to it over one connection per event loop: so two links
    must never scan at once.  :meth:`find` registers what it wants and
    shares the one running scan.
    """

    def __init__(self):
        self._waiters: dict[object, tuple[dict, dict, asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()

    async def find(self, targets: dict[str, str], timeout_s: float) -> dict[str, tuple]:
        """key -> (BLEDevice, AdvertisementData) of the targets seen within ``timeout_s`` (missing: not seen)."""
        found: dict[str, tuple] = {}
        done = asyncio.get_running_loop().create_future()
        key = object()
        self._waiters[key] = (dict(targets), found, done)
        self._idle.clear()
        if self._task is not None and self._task.done():
            self._task = None
        if self._task is None:
            self._task = asyncio.create_task(self._scan())
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            del self._waiters[key]
            if not self._waiters:
                self._idle.set()
        if done.done() and done.exception() is not None:
            raise done.exception()
        return found

    async def stopped(self) -> None:
        """Wait until the discovery has stopped, if nobody is looking any more."""
        if not self._waiters and self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _scan(self) -> None:
        from bleak import BleakScanner

        try:
            while True:
                async with BleakScanner(detection_callback=self._seen):
                    await self._idle.wait()
                if not self._waiters:  # else someone came while the discovery was stopping: go on
                    return
        except Exception as e:  # noqa: BLE001 - handed to every waiter, who raises it
            for _, _, done in self._waiters.values():
                if not done.done():
                    done.set_exception(e)

    def _seen(self, device, adv) -> None:
        for targets, found, done in self._waiters.values():
            for key, target in targets.items():
                if key not in found and matches(target, device.address, device.name or adv.local_name):
                    found[key] = (device, adv)
            if len(found) == len(targets) and not done.done():
                done.set_result(True)


@dataclass
class LinkStatus:
    """What the status line shows for one sensor."""

    role: str
    target: str
    name: str = ""
    family: str = ""
    streams: str = ""  # what the sensor was asked to stream, in words
    connected: bool = False
    notifications: int = 0
    samples: int = 0
    lost_samples: int = 0
    dropped_packets: int = 0
    reconnects: int = 0
    rate_hz: float = 0.0
    _recent: list = field(default_factory=list)  # (host time, samples) over the last seconds


class SensorLink:
    """One sensor: connect, start its stream, and reconnect after drop-outs.

    Parameters
    ----------
    role
        "pelvis" or "trunk".
    target
        Bluetooth address, advertised name, or the ID printed on the sensor.
    rate_hz
        Wanted sample rate; the family picks its nearest.
    queue
        Where notifications go, as ``(role, host_monotonic_s, char_uuid, bytes)``;
        link events go as ``(role, host_monotonic_s, None, event_dict)``.
    finder
        The discovery shared with the other links (for reconnecting).
    """

    def __init__(self, role: str, target: str, rate_hz: float, queue: asyncio.Queue, finder: Finder):
        self.role, self.target, self.rate_hz, self.queue, self.finder = role, target, rate_hz, queue, finder
        self.status = LinkStatus(role, target)
        self.family = None
        self.device = None
        self.firmware: str | None = None
        self.mtu: int | None = None
        self._client = None
        self._lost = asyncio.Event()
        self._closing = False

    def found(self, device, adv) -> None:
        """The scan found this link's sensor; DeviceError if it is not one we support."""
        self.device = device
        self.family = family_for(device.name, list(adv.service_uuids))
        if self.family is None:
            raise DeviceError(f"{self.role} sensor {self.target!r} ({device.name}) is not a supported sensor; "
                              f"supported: {', '.join(FAMILIES)}", self.target)
        self.status.name, self.status.family = device.name or "", self.family.name
        self.status.streams = self.family.describe(self.rate_hz)

    async def connect(self) -> None:
        """Connect and turn notifications on (the stream is started by :meth:`start`)."""
        from bleak import BleakClient

        self._lost.clear()
        client = BleakClient(self.device, disconnected_callback=lambda _c: self._lost.set(), timeout=10.0)
        await client.connect()
        try:
            if self.firmware is None and client.services.get_characteristic(DEVICE_INFO_FIRMWARE) is not None:
                self.firmware = bytes(await client.read_gatt_char(DEVICE_INFO_FIRMWARE)).decode(errors="replace")
            control = client.services.get_characteristic(self.family.control_uuid or self.family.notify_uuids[0])
            if control is not None:  # bluetoothd's GattCharacteristic1.MTU, less the 3-byte ATT header
                self.mtu = control.max_write_without_response_size + 3
            for uuid in self.family.notify_uuids:
                await client.start_notify(uuid, self._callback(uuid))
        except BaseException:
            await _quietly(client.disconnect())
            raise
        self._client = client
        self.status.connected = True

    async def start(self) -> None:
        """Send the family's start commands, with the vendor's pauses between them."""
        try:
            for char, payload, wait_s in self.family.start_steps(self.rate_hz):
                await _write_char(self._client, char, payload)
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
        except BaseException:
            await _quietly(self._client.disconnect())
            raise

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
                    found = await self.finder.find({self.role: self.device.address}, RECONNECT_SCAN_S)
                    if self.role not in found or self._closing:
                        continue
                    self.device = found[self.role][0]
                    await self.connect()
                    await self._stop_leftovers()
                    await self.start()
                except (BleakError, OSError, asyncio.TimeoutError):
                    continue
                self.status.reconnects += 1
                self.queue.put_nowait((self.role, time.monotonic(), None,
                                       {"kind": "reconnect", "attempts": attempt, "mtu": self.mtu}))
                break

    async def _stop_leftovers(self) -> None:
        """After a drop-out, stop what the sensor may still be streaming to the lost link (a Movesense keeps
        its subscription, and refuses a second one with 507); a refusal of these stops means nothing."""
        stops = getattr(self.family, "stop_commands", lambda: [])()
        if not stops:
            return
        self.queue.put_nowait((self.role, time.monotonic(), None, {"kind": STOPPING}))
        for char, payload in stops:
            await _quietly(_write_char(self._client, char, payload))
        await asyncio.sleep(STOP_REPLY_S)  # a reply may come after the write's own answer
        self.queue.put_nowait((self.role, time.monotonic(), None, {"kind": STOPPED}))

    async def close(self) -> None:
        """Stop the stream and disconnect (best effort: the sensor may be gone)."""
        self._closing = True
        self._lost.set()
        client, self._client = self._client, None
        if client is None:
            return
        for char, payload in getattr(self.family, "stop_commands", lambda: [])():
            await _quietly(_write_char(client, char, payload))
        await _quietly(client.disconnect())
        self.status.connected = False


async def _write_char(client, uuid: str, payload: bytes) -> None:
    """Write as the characteristic's properties allow: a request where it declares "write", else a command.

    bluetoothd sends whichever type it is asked for (BlueZ src/gatt-client.c,
    characteristic_write_value); a sensor refuses a request on a
    characteristic without "write" (WitMotion's FFE9 is written without
    response by its vendor's SDK), and silently ignores a command it does not take.
    """
    char = client.services.get_characteristic(uuid)
    response = char is None or "write" in char.properties  # unknown: bleak raises that it is missing
    await client.write_gatt_char(uuid if char is None else char, payload, response=response)


async def _quietly(coro) -> None:
    try:
        await asyncio.wait_for(coro, 5.0)
    except Exception:  # noqa: BLE001 - closing a link that may already be gone
        pass


def _warm_up() -> None:
    """Everything the first batches would otherwise import on the way (pyarrow pulls in pandas: 0.2-0.3 s)."""
    import pandas  # noqa: F401
    import pyarrow as pa

    pa.array([b"\x00"], type=pa.binary())
    pa.array(np.zeros(2), type=pa.float64())


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


class _PacketLog:
    """What a sensor's notifications looked like, for the message when none could be decoded."""

    def __init__(self):
        self.by_kind: collections.Counter = collections.Counter()  # (char uuid, length) -> count
        self.first: dict[str, list[bytes]] = {}

    def add(self, uuid: str, payload: bytes) -> None:
        self.by_kind[(uuid, len(payload))] += 1
        first = self.first.setdefault(uuid, [])
        if len(first) < 3:
            first.append(payload[:12])

    def describe(self) -> str:
        if not self.by_kind:
            return "no notification at all after its stream was started"
        n = sum(self.by_kind.values())
        kinds = ", ".join(f"{c} x {length} bytes on {u[:8]}" for (u, length), c in self.by_kind.most_common(4))
        first = "; ".join(f"{u[:8]}: " + " | ".join(p.hex(" ") for p in ps) for u, ps in self.first.items())
        return f"{n} notifications ({kinds}), first bytes {first}"


class Recorder:
    """Stream a pelvis and a trunk sensor into a session folder until stopped.

    Parameters
    ----------
    sensors
        role -> address, advertised name, or the ID printed on the sensor.
    folder
        The session folder to create.
    runner, mass_kg
        Who runs, and their body mass (kg).
    rate_hz
        Wanted sample rate of both sensors, Hz.
    connect_timeout_s
        How long to look for the sensors at the start.
    on_samples
        Called in the event loop with ``(role, SensorData)`` for each notification's decoded samples, as
        written (the live analysis); it must return at once.
    """

    def __init__(self, sensors: dict[str, str], folder: str | Path, *, runner: str = "", mass_kg: float = 70.0,
                 rate_hz: float = 208.0, connect_timeout_s: float = 15.0, on_samples=None):
        self.on_samples = on_samples
        self.folder = Path(folder)
        self.runner, self.mass_kg, self.rate_hz = runner, mass_kg, rate_hz
        self.connect_timeout_s = connect_timeout_s
        self.queue: asyncio.Queue = asyncio.Queue()
        self.finder = Finder()
        self.links = {role: SensorLink(role, target, rate_hz, self.queue, self.finder)
                      for role, target in sensors.items()}
        self.stop = asyncio.Event()
        self.t0 = time.monotonic()
        self.t0_unix_s = time.time()
        self.writer: SessionWriter | None = None
        self._streams: dict[str, StreamDecoder] = {}
        self._pending: dict[str, list] = {}
        self._raw: dict[str, tuple[list, list, list]] = {}
        self._packets = {role: _PacketLog() for role in sensors}
        self._gaps_seen: dict[str, int] = {}
        self._drops_seen: dict[str, int] = {}
        self._ended_seen: dict[str, int] = {}
        self._stopping: dict[str, bool] = {}  # role -> between a reconnected link's stop commands and its start
        self._io_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stridesense-writer")
        self._io_queue: collections.deque = collections.deque()
        self.error: Exception | None = None

    @property
    def status(self) -> dict[str, LinkStatus]:
        return {role: link.status for role, link in self.links.items()}

    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    async def run(self, duration_s: float | None = None, on_status=None, status_every_s: float = 0.5) -> RecordResult:
        """Find and connect every sensor, record until :attr:`stop` is set or ``duration_s`` passed, close cleanly.

        Raises
        ------
        DeviceError
            A sensor was not found, could not be started, refused a command,
            or delivered no samples (the session and its raw bytes are kept).
        RecordingError
            The session could not be written (what was written is kept).
        """
        try:
            await self._open()
        except BaseException:
            await asyncio.gather(*(link.close() for link in self.links.values()))
            self._io_pool.shutdown(wait=True)
            raise
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
            await self._finish()
        if self.error is not None:
            raise self.error
        self._check_every_sensor_delivered()
        return RecordResult(self.folder, self.elapsed_s(), self.status)

    async def _open(self) -> None:
        """One scan for every sensor, connect them all, set the session up, then start every stream."""
        from bleak.exc import BleakError

        loop = asyncio.get_running_loop()
        warm = loop.run_in_executor(self._io_pool, _warm_up)
        targets = {role: link.target for role, link in self.links.items()}
        try:
            found = await self.finder.find(targets, self.connect_timeout_s)
        except (BleakError, OSError) as e:
            raise DeviceError(f"cannot scan for Bluetooth devices ({e}); {NO_BLUEZ_HINT}") from None
        for role, link in self.links.items():
            if role not in found:
                raise DeviceError(f"{role} sensor {link.target!r} was not found within {self.connect_timeout_s:g} s; "
                                  "is it switched on, charged and near? (`stridesense scan` lists what is seen)",
                                  link.target)
            link.found(*found[role])
        await self.finder.stopped()  # connect with the discovery over, as a phone app would
        addresses = [link.device.address for link in self.links.values()]
        if len(set(addresses)) < len(addresses):
            raise DeviceError(f"one sensor ({addresses[0]}) was given for two roles; every role needs its own sensor")

        async def connect(link):
            try:
                await link.connect()
            except (BleakError, OSError, asyncio.TimeoutError) as e:
                raise DeviceError(f"{link.role} sensor {link.target!r}: cannot connect ({e}); switch it off and on, "
                                  "and make sure no other app or phone is connected to it", link.target) from None

        opened = await asyncio.gather(*(connect(link) for link in self.links.values()), return_exceptions=True)
        failed = [e for e in opened if isinstance(e, BaseException)]
        if failed:
            raise failed[0]
        await warm
        self.writer = await loop.run_in_executor(self._io_pool, self._new_writer)

        async def start(link):
            try:
                await link.start()
            except (BleakError, OSError, asyncio.TimeoutError) as e:
                raise DeviceError(f"{link.role} sensor {link.target!r}: cannot start streaming ({e})",
                                  link.target) from None

        started = await asyncio.gather(*(start(link) for link in self.links.values()), return_exceptions=True)
        failed = [e for e in started if isinstance(e, BaseException)]
        if failed:
            raise failed[0]

    def _new_writer(self) -> SessionWriter:
        writer = SessionWriter(self.folder, runner=self.runner, mass_kg=self.mass_kg, sensors=[
            {"role": role, "has_gyro": link.family.has_gyro, "family": link.family.name,
             "streams": link.status.streams, "address": link.device.address,
             "name": link.device.name or "", "firmware": link.firmware or "unknown", "mtu": link.mtu,
             "nominal_rate_hz": self._stream(role).rate_hz, "experimental_decoder": link.family.experimental}
            for role, link in self.links.items()], meta={"recorded_with": "stridesense record",
                                                         "session_clock_zero_unix_s": self.t0_unix_s})
        for role in self.links:
            writer.open_files(role, raw=True)
        return writer

    def _stream(self, role: str) -> StreamDecoder:
        if role not in self._streams:
            self._streams[role] = StreamDecoder(self.links[role].family, self.rate_hz)
        return self._streams[role]

    def _io(self, fn, *args, **kwargs) -> None:
        """Run a writer call on the writer thread, in order; its RecordingError stops the recording."""
        future = self._io_pool.submit(fn, *args, **kwargs)
        self._io_queue.append(future)
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(self._io_done, f))

    def _io_done(self, future) -> None:
        e = future.exception()
        if e is not None and self.error is None:
            self.error = e
            self.stop.set()

    async def _drain_io(self, keep: int = 0) -> None:
        """Wait until at most ``keep`` writer calls are still queued."""
        while len(self._io_queue) > keep:
            future = self._io_queue.popleft()
            await asyncio.wrap_future(future)  # its error, if any, reached _io_done

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
                    while self._io_queue and self._io_queue[0].done():
                        self._io_queue.popleft()
                    if len(self._io_queue) > MAX_QUEUED_WRITES:  # a disk slower than the sensors: bounded memory
                        await self._drain_io(MAX_QUEUED_WRITES // 2)
        except (RecordingError, DeviceError) as e:
            self.error = self.error or e
            self.stop.set()

    def _handle(self, role: str, host_s: float, uuid: str | None, payload) -> None:
        t = host_s - self.t0
        if uuid is None:  # a link event
            kind = payload.pop("kind")
            if kind in (STOPPING, STOPPED):
                self._stopping[role] = kind == STOPPING
            else:
                self._io(self.writer.event, kind, role=role, session_time_s=round(t, 4), **payload)
            return
        raw = self._raw.setdefault(role, ([], [], []))
        raw[0].append(t)
        raw[1].append(uuid)
        raw[2].append(payload)
        self._packets[role].add(uuid, payload)
        status = self.links[role].status
        status.notifications += 1
        stream = self._stream(role)
        try:
            blocks = stream.feed(t, uuid, payload)
        except CommandRefused as e:
            if self._stopping.get(role):
                self._io(self.writer.event, "stop_refused", role=role, session_time_s=round(t, 4), reason=str(e))
                return
            self._io(self.writer.event, "refused", role=role, session_time_s=round(t, 4), reason=str(e),
                     payload=payload.hex())
            link = self.links[role]
            raise DeviceError(f"{role} sensor {link.target!r} ({link.status.name}) refused to start: {e}",
                              link.target) from None  # the family's message says what it means and what to try
        self._account(role, stream)
        self._pending.setdefault(role, []).extend(blocks)
        for name in stream.ended[self._ended_seen.get(role, 0):]:  # the sensor stopped a stream itself
            self._io(self.writer.event, "stream_ended", role=role, session_time_s=round(t, 4), stream=name)
        self._ended_seen[role] = len(stream.ended)
        self._deliver(role, blocks)

    def _deliver(self, role: str, blocks: list) -> None:
        if self.on_samples is not None and blocks:
            t, acc, gyr = (np.concatenate([b[i] for b in blocks]) for i in range(3))
            self.on_samples(role, SensorData(t, acc, gyr, role))

    def _account(self, role: str, stream: StreamDecoder) -> None:
        status = self.links[role].status
        for reason in stream.dropped[self._drops_seen.get(role, 0):]:
            self._io(self.writer.event, "dropped_packet", role=role, reason=reason)
        self._drops_seen[role] = len(stream.dropped)
        status.dropped_packets = len(stream.dropped) + stream.duplicates
        gaps = stream.clock.gaps
        for (_, _, missing), (s0, s1) in list(zip(gaps, stream.clock.gap_edges_s))[self._gaps_seen.get(role, 0):]:
            # The edges are the session times of the samples either side, as they were written.
            self._io(self.writer.event, "gap", role=role, start_s=round(s0, 4), end_s=round(s1, 4),
                     missing_samples=int(missing))
            status.lost_samples += int(missing)
        self._gaps_seen[role] = min(len(gaps), len(stream.clock.gap_edges_s))

    def _write(self) -> None:
        for role, (times, uuids, payloads) in self._raw.items():
            if payloads:
                self._io(self.writer.append_raw_many, role, list(times), list(uuids), list(payloads))
                times.clear(), uuids.clear(), payloads.clear()
        for role, blocks in self._pending.items():
            if not blocks:
                continue
            t = np.concatenate([b[0] for b in blocks])
            acc = np.concatenate([b[1] for b in blocks])
            gyr = None if any(b[2] is None for b in blocks) else np.concatenate([b[2] for b in blocks])
            blocks.clear()
            self._io(self.writer.append, role, SensorData(t, acc, gyr, role))
            status = self.links[role].status
            status.samples += t.size
            status._recent.append((time.monotonic(), t.size))

    def _update_rates(self) -> None:
        now = time.monotonic()
        for status in self.status.values():
            status._recent = [(h, n) for h, n in status._recent if now - h <= 3.0]
            span = min(3.0, now - self.t0)
            status.rate_hz = sum(n for _, n in status._recent) / span if span > 0.5 else 0.0

    async def _finish(self) -> None:
        """Write what is left, the final clock fits, and close every file (waiting for the writer thread)."""
        if self.writer is None:
            self._io_pool.shutdown(wait=True)
            return
        try:
            if self.error is None:
                for role, stream in self._streams.items():
                    held = stream.flush()
                    self._pending.setdefault(role, []).extend(held)
                    self._deliver(role, held)
                    self._account(role, stream)
                self._write()
            for role, stream in self._streams.items():
                facts = {k: getattr(self.links[role].status, k)
                         for k in ("samples", "lost_samples", "dropped_packets", "reconnects", "notifications")}
                if stream.clock.n_packets:
                    offset, drift = stream.clock.fit()
                    facts.update(clock_offset_s=offset, clock_drift_ppm=drift * 1e6)
                self._io(self.writer.update_sensor, role, **facts)
        except (RecordingError, DeviceError) as e:
            self.error = self.error or e
        finally:
            self._io(self.writer.close)
            try:
                await self._drain_io()
            except (RecordingError, OSError) as e:
                self.error = self.error or e
            self._io_pool.shutdown(wait=True)

    def _check_every_sensor_delivered(self) -> None:
        """A sensor that gave no samples fails the recording: say what its packets looked like."""
        for role, link in self.links.items():
            if link.status.samples == 0:
                stream = self._streams.get(role)
                why = ""
                if stream is not None and stream.dropped:
                    reasons = collections.Counter(stream.dropped).most_common(2)
                    why = "; dropped as " + "; ".join(f"{r!r} ({n}x)" for r, n in reasons)
                raise DeviceError(f"{role} sensor {link.target!r} ({link.status.name or '?'}, {link.status.family}) "
                                  f"delivered no samples: {self._packets[role].describe()}{why}. The raw bytes are "
                                  f"kept in {self.folder} for diagnosis", link.target)


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
