"""A simulated BlueZ serving simulated sensors on a private D-Bus: Bluetooth without hardware.

bleak's BlueZ backend talks to ``org.bluez`` on the D-Bus *system* bus, whose
address it reads from ``DBUS_SYSTEM_BUS_ADDRESS``.  :class:`PrivateBus` starts
a private ``dbus-daemon``; :class:`FakeBlueZ` runs *this module* in a process
of its own on that bus.  It exports an adapter and devices with BlueZ's
object paths, properties and methods, and the devices' GATT services and
characteristics.  Each device answers control-point writes as its family's
protocol says and notifies the simulator's signals in its family's bytes, in
real time, on its own drifting clock.  The body moves whether or not anyone
listens: a device out of range loses what it measures meanwhile.

Used by the tests, ``benchmarks/bench_ble.py`` and anyone trying ``stridesense
scan`` / ``record`` without sensors.  The spec (JSON) is documented in
:func:`load_spec`.

This module deliberately does not use ``from __future__ import annotations``:
dbus-fast reads D-Bus signatures from the annotations at class creation.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

BLUEZ = "org.bluez"
ADAPTER_PATH = "/org/bluez/hci0"
TICK_S = 0.004  # at least this often a device releases the packets its clock has reached
RSSI_EVERY_S = 0.5
FLOOD_BURST = 200  # a flooding device sends at most this many packets per tick

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A private dbus-daemon standing in for the system bus (a context manager).

    ``address`` is what ``DBUS_SYSTEM_BUS_ADDRESS`` must be for bleak to use it.
    """

    def __init__(self):
        exe = shutil.which("dbus-daemon")
        if exe is None:
            raise RuntimeError("dbus-daemon is not installed (Debian package dbus)")
        self._dir = tempfile.TemporaryDirectory(prefix="stridesense-dbus-")
        conf = Path(self._dir.name) / "bus.conf"
        conf.write_text(BUS_CONFIG.format(dir=self._dir.name))
        self.process = subprocess.Popen([exe, f"--config-file={conf}", "--nofork", "--print-address=1"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        start_new_session=True)
        self.address = self.process.stdout.readline().strip()
        if not self.address:
            self.close()
            raise RuntimeError("dbus-daemon did not start")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        self.process.stdout.close()
        self._dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeBlueZ:
    """This module run as a process on a private bus, serving the devices of ``spec`` (a context manager)."""

    def __init__(self, bus_address: str, spec: dict, ready_timeout_s: float = 60.0):
        self._tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(spec, self._tmp)
        self._tmp.close()
        self._truth_path = spec.get("truth_path")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address)
        self.process = subprocess.Popen([sys.executable, "-m", "stridesense.streaming.fake_bluez", self._tmp.name],
                                        stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise RuntimeError(f"the fake BlueZ did not start (said {line!r})")

    def truth(self) -> dict:
        """What the simulation knows (spec ``truth_path``): ``body_t0_monotonic_s`` (when the run started,
        on this host's monotonic clock, so ``time.monotonic()`` values compare), ``devices`` (address ->
        ``packets_sent`` and ``samples_sent``, the samples those packets completed (for a sensor of separate
        streams, the fewer of any stream): up to date after :meth:`close`)."""
        return json.loads(Path(self._truth_path).read_text())

    def close(self) -> None:
        """Stop the fake (it writes its final truth first); calling it again does nothing."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        if os.path.exists(self._tmp.name):
            os.unlink(self._tmp.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_spec(path: str) -> dict:
    """Read a spec file; every key but ``devices`` has a default.

    Keys: ``seed`` and ``duration_s`` of the simulated run (stridesense's
    simulator, both sensors at ``rate_hz``), ``flood`` (send every packet at
    once, for throughput benchmarks), and ``devices``, each a dict with
    ``address``, ``name``, ``family`` ("polar" | "movesense" | "witmotion" |
    None for an unrelated device), ``role`` (the simulated segment it
    streams), ``rssi``, ``drops`` ([[at_s, for_s], ...] on the body clock:
    out of range, link lost), ``refuse`` (answer start commands with an error),
    ``clock_offset_s`` and ``drift_ppm`` of the device's own clock, ``device``
    (the simulated sensor's options, e.g. {"sdk_mode_firmware": false}).
    """
    spec = json.loads(Path(path).read_text())
    spec.setdefault("seed", 11)
    spec.setdefault("duration_s", 120.0)
    spec.setdefault("rate_hz", 208.0)
    spec.setdefault("flood", False)
    spec.setdefault("truth_path", None)  # where the fake writes what only the simulation knows (FakeBlueZ.truth)
    return spec


def simulation_config(seed: int, duration_s: float, rate_hz: float):
    """The simulated run a spec's devices stream: both sensors at ``rate_hz``, sampled together."""
    from stridesense.models.simulator import SimConfig

    return SimConfig(seed=int(seed), duration_s=float(duration_s), pelvis_rate_hz=float(rate_hz),
                     trunk_rate_hz=float(rate_hz), trunk_start_offset_s=0.0)


def _path_of(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.replace(':', '_')}"


class Adapter1(ServiceInterface):
    def __init__(self, world):
        super().__init__("org.bluez.Adapter1")
        self.world = world

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return "00:1A:7D:DA:71:13"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":
        return self.world.discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":
        return ["central", "peripheral"]

    @method()
    def SetDiscoveryFilter(self, properties: "a{sv}"):
        return None

    # StartDiscovery / StopDiscovery need the caller's bus name: World.discovery_call answers them.


class Device1(ServiceInterface):
    def __init__(self, dev):
        super().__init__("org.bluez.Device1")
        self.dev = dev

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return self.dev.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self.dev.name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":
        return self.dev.name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        return self.dev.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":
        return self.dev.connected

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":
        return self.dev.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return [self.dev.service_uuid] if self.dev.service_uuid else []

    @method()
    async def Connect(self):
        await asyncio.sleep(0.02)
        if not self.dev.in_range():
            raise DBusError("org.bluez.Error.Failed", "le-connection-abort-by-local")
        self.dev.connected = True
        self.emit_properties_changed({"Connected": True})
        self.emit_properties_changed({"ServicesResolved": True})

    @method()
    def Disconnect(self):
        self.dev.link_lost()


class GattService1(ServiceInterface):
    def __init__(self, uuid: str, device_path: str):
        super().__init__("org.bluez.GattService1")
        self.uuid, self.device_path = uuid, device_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return self.device_path

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":
        return True


class GattCharacteristic1(ServiceInterface):
    def __init__(self, dev, uuid: str, service_path: str, flags: list):
        super().__init__("org.bluez.GattCharacteristic1")
        self.dev, self.uuid, self.service_path, self.flags = dev, uuid, service_path, flags
        self.value = b""
        self.notifying = False

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":
        return self.service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":
        return self.dev.mtu

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":
        return self.value

    @method()
    def WriteValue(self, value: "ay", options: "a{sv}"):
        if not self.dev.connected:
            raise DBusError("org.bluez.Error.NotConnected", "Not connected")
        self.dev.written(self.uuid, bytes(value))

    @method()
    def StartNotify(self):
        if not self.dev.connected:
            raise DBusError("org.bluez.Error.NotConnected", "Not connected")
        self.notifying = True
        self.dev.notifying_changed()

    @method()
    def StopNotify(self):
        self.notifying = False
        self.dev.notifying_changed()

    def notify(self, payload: bytes) -> None:
        self.value = payload
        self.emit_properties_changed({"Value": payload})


class _PatientSocket:
    """A socket whose send answers "nothing sent" when the buffer is full, instead of raising.

    dbus-fast treats EAGAIN on send as fatal and closes the bus; with this the
    writer simply waits until the socket is writable again.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def send(self, data):
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def sendmsg(self, *args):
        try:
            return self._sock.sendmsg(*args)
        except BlockingIOError:
            return 0

    def __getattr__(self, name):
        return getattr(self._sock, name)


class SimDevice:
    """One simulated sensor: its D-Bus objects, its protocol and its stream of packets."""

    def __init__(self, world, d: dict, index: int):
        from stridesense.streaming.devices import FAMILIES

        self.world, self.address, self.name = world, d["address"], d["name"]
        self.rssi = int(d.get("rssi", -60))
        self.mtu = int(d.get("mtu", 247))  # the ATT MTU the link negotiated (bluetoothd: GattCharacteristic1.MTU)
        self.drops = [tuple(x) for x in d.get("drops", [])]
        self.refuse = bool(d.get("refuse", False))
        self.garbled = bool(d.get("garbled", False))
        self.path = _path_of(self.address)
        self.connected = False
        self.exported = False
        self.family = FAMILIES[d["family"]].for_advert(d["name"]) if d.get("family") else None
        self.service_uuid = self.family.service_uuid if self.family else "0000180f-0000-1000-8000-00805f9b34fb"
        self.device = Device1(self)
        self.chars: dict[str, GattCharacteristic1] = {}
        self.service = None
        self.started: set = set()  # what the device was told to stream
        self.packets: list = []  # (release body time s, char uuid, bytes)
        self.next_packet = 0
        self.packets_sent = 0
        self.covers: list = []  # per packet: (stream, index of the last sample it completes)
        self.covered: dict = {}  # stream -> the last sample index sent
        if self.family is None:
            return
        service_path = f"{self.path}/service{0x10 + 0x20 * index:04x}"
        self.service = (service_path, GattService1(self.family.service_uuid, self.path))
        uuids = list(dict.fromkeys([*self.family.notify_uuids, self.family.control_uuid]))
        for k, uuid in enumerate(uuids):
            flags = (["notify"] if uuid in self.family.notify_uuids else []) + (
                ["write", "write-without-response"] if uuid == self.family.control_uuid else [])
            self.chars[uuid] = GattCharacteristic1(self, uuid, service_path, flags)
            self.chars[uuid].path = f"{service_path}/char{0x11 + 0x20 * index + 2 * k:04x}"
        self._encode(d, world.sim.session, world.rate_hz)

    def _encode(self, d: dict, session, rate_hz: float) -> None:
        """Every packet of the run, in the family's bytes, with the body time it leaves the device."""
        from stridesense.streaming.devices.base import at_rate

        data = at_rate(getattr(session, d.get("role", "pelvis")), self.family.rate(rate_hz))  # the model's rate
        t_body = data.time_s - data.time_s[0]
        clock = float(d.get("clock_offset_s", 1000.0)) + t_body * (1.0 + float(d.get("drift_ppm", 20.0)) * 1e-6)
        if self.family.name == "polar":
            clock = clock + 1.7e9  # Unix time, as a Polar clock is set by its app
        enc = self.family.encoder(rate_hz, **d.get("device", {}))  # e.g. {"sdk_mode_firmware": False}
        chunk = getattr(enc, "n", 1)
        for i in range(0, data.n - chunk + 1, chunk):
            sl = slice(i, i + chunk)
            gyr = data.gyr_radps[sl] if data.gyr_radps is not None else np.zeros((chunk, 3))
            for char, payload in enc.encode(data.acc_mps2[sl], gyr, clock[sl]):
                self.packets.append((float(t_body[i + chunk - 1]), char.lower(), payload))
                self.covers.append(("samples", i + chunk - 1))
        if self.family.name == "polar":
            self._polar_frames_leave_when_full(clock, t_body)
        self.encoder = enc

    def _polar_frames_leave_when_full(self, clock: np.ndarray, t_body: np.ndarray) -> None:
        """A Polar frame leaves when its last sample is measured (the stamp it carries), not when the
        encoder was handed the next few samples: ACC and GYRO frames interleave by that time."""
        from stridesense.streaming.devices.polar_pmd import DATA, POLAR_EPOCH_S

        timed = []
        for (t, char, payload), cover in zip(self.packets, self.covers):
            if char == DATA and len(payload) >= 10:
                last_s = POLAR_EPOCH_S + int.from_bytes(payload[1:9], "little") * 1e-9  # on the device clock
                t = float(np.interp(last_s, clock, t_body))
                cover = (payload[0], int(np.argmin(np.abs(clock - last_s))))  # per measurement type
            timed.append((t, char, payload, cover))
        timed.sort(key=lambda p: p[0])
        self.packets = [p[:3] for p in timed]
        self.covers = [p[3] for p in timed]

    def in_range(self) -> bool:
        t = self.world.body_time()
        return not any(at <= t < at + dur for at, dur in self.drops)

    def export(self, bus: MessageBus) -> None:
        if self.exported:
            return
        self.exported = True
        bus.export(self.path, self.device)
        if self.service:
            bus.export(*self.service)
            for char in self.chars.values():
                bus.export(char.path, char)

    def link_lost(self) -> None:
        self.started.clear()
        getattr(self.encoder, "started", set()).clear()  # a lost link ends the sensor's measurements too
        for char in self.chars.values():
            char.notifying = False
        if self.connected:
            self.connected = False
            self.device.emit_properties_changed({"ServicesResolved": False})
            self.device.emit_properties_changed({"Connected": False})

    def written(self, uuid: str, value: bytes) -> None:
        uuid = uuid.lower()
        replies = self.encoder.respond(uuid, value)
        if self.family.name == "polar" and len(value) >= 2:
            if value[0] == 2:
                self.started.add(value[1])
            elif value[0] == 3:
                self.started.discard(value[1])
        elif self.family.name == "movesense" and value:
            if value[0] == 1:
                self.started.add("imu6")
            elif value[0] == 2:
                self.started.discard("imu6")
        if self.refuse:
            self.started.clear()
            getattr(self.encoder, "started", set()).clear()
            replies = [(c, _refusal(self.family.name, r)) for c, r in replies]
        for char, payload in replies:
            if self.chars[char.lower()].notifying:
                self.chars[char.lower()].notify(payload)
        self.world.body_clock_starts()

    def notifying_changed(self) -> None:
        if self.family.name == "witmotion":  # streams as soon as notifications are on
            self.started = {"imu"} if any(c.notifying for c in self.chars.values()) else set()
            self.world.body_clock_starts()

    def _wanted(self, payload: bytes) -> bool:
        if self.family.name == "polar":
            return payload[0] in getattr(self.encoder, "started", self.started)
        return bool(self.started)

    def release(self, t_body: float) -> int:
        """Send the packets the device's clock has reached; those measured out of range are lost."""
        sent = 0
        packets = self.packets
        while self.next_packet < len(packets) and packets[self.next_packet][0] <= t_body:
            _, char, payload = packets[self.next_packet]
            c = self.chars[char]
            listening = self.connected and c.notifying and self._wanted(payload)
            if self.world.flood and not listening:
                break  # a flood waits for its listener instead of losing packets
            self.next_packet += 1
            if listening:
                c.notify(bytes([0xEE]) * len(payload) if self.garbled else payload)
                sent += 1
                self.packets_sent += 1
                stream, last = self.covers[self.next_packet - 1]
                self.covered[stream] = max(self.covered.get(stream, -1), last)
                if self.world.flood and sent >= FLOOD_BURST:
                    break  # let the other devices and the bus have their turn
        return sent


def _refusal(family: str, reply: bytes) -> bytes:
    """The family's control-point reply turned into an error answer."""
    if family == "polar":
        return reply[:3] + bytes([0x05]) + reply[4:]  # 5: invalid state
    if family == "movesense":
        return reply[:2] + (503).to_bytes(2, "big")  # statuses are written high byte first
    return reply


class World:
    """The adapter, the devices and the body clock they share."""

    def __init__(self, spec: dict):
        from stridesense.models.simulator import simulate_session

        self.rate_hz = float(spec["rate_hz"])
        self.sim = simulate_session(simulation_config(spec["seed"], spec["duration_s"], self.rate_hz))
        self.discovering = False
        self.discovery_clients: set = set()  # bus names with a discovery session
        self.adapter = Adapter1(self)
        self.devices = [SimDevice(self, d, i) for i, d in enumerate(spec["devices"])]
        self.bus: MessageBus | None = None
        self._body_t0: float | None = None
        self.flood = bool(spec["flood"])
        self.truth_path = spec.get("truth_path")

    def body_clock_starts(self) -> None:
        """The simulated run starts when the first device is told to stream."""
        if self._body_t0 is None:
            self._body_t0 = time.monotonic()
            self.write_truth()

    def write_truth(self) -> None:
        """What only the simulation knows, for tests: when the run started, what each device sent."""
        if not self.truth_path:
            return
        truth = {"body_t0_monotonic_s": self._body_t0, "devices": {
            d.address: {"packets_sent": d.packets_sent,
                        "samples_sent": min(d.covered.values()) + 1 if d.covered else 0} for d in self.devices}}
        tmp = self.truth_path + ".tmp"
        Path(tmp).write_text(json.dumps(truth))
        os.replace(tmp, self.truth_path)

    def body_time(self) -> float:
        return 0.0 if self._body_t0 is None else time.monotonic() - self._body_t0

    def discovery_call(self, msg):
        """Answer Adapter1.StartDiscovery / StopDiscovery as bluetoothd does: one session per client.

        BlueZ src/adapter.c: start_discovery() answers a client that already
        has a session with btd_error_busy (org.bluez.Error.InProgress);
        stop_discovery() one without a session with "No discovery started";
        a client leaving the bus ends its session (a disconnect watch).
        """
        if msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged":
            name, _old, new = msg.body
            if not new and name in self.discovery_clients:
                self.discovery_clients.discard(name)
                self._discovery_changed()
            return None
        if (msg.message_type != MessageType.METHOD_CALL or msg.interface != "org.bluez.Adapter1"
                or msg.member not in ("StartDiscovery", "StopDiscovery")):
            return None
        if msg.member == "StartDiscovery":
            if msg.sender in self.discovery_clients:
                return Message.new_error(msg, "org.bluez.Error.InProgress", "Operation already in progress")
            self.discovery_clients.add(msg.sender)
        else:
            if msg.sender not in self.discovery_clients:
                return Message.new_error(msg, "org.bluez.Error.Failed", "No discovery started")
            self.discovery_clients.discard(msg.sender)
        self._discovery_changed()
        return Message.new_method_return(msg)

    def _discovery_changed(self) -> None:
        if bool(self.discovery_clients) != self.discovering:
            if self.discovery_clients:
                self.start_discovery()
            else:
                self.discovering = False
                self.adapter.emit_properties_changed({"Discovering": False})

    def start_discovery(self) -> None:
        self.discovering = True
        self.adapter.emit_properties_changed({"Discovering": True})
        for dev in self.devices:
            if dev.in_range():
                if dev.exported:
                    dev.device.emit_properties_changed({"RSSI": dev.rssi})
                else:
                    dev.export(self.bus)

    async def run(self) -> None:
        self.bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self.bus._writer.sock = _PatientSocket(self.bus._writer.sock)
        self.bus.add_message_handler(self.discovery_call)
        await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                    interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                                    body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"]))
        self.bus.export(ADAPTER_PATH, self.adapter)
        await self.bus.request_name(BLUEZ)
        print("ready", flush=True)
        next_rssi = 0.0
        while True:
            now = time.monotonic()
            t_body = float("inf") if self.flood else self.body_time()
            for dev in self.devices:
                if dev.family is None:
                    continue
                if dev.connected and not dev.in_range():
                    dev.link_lost()
                if self._body_t0 is not None:
                    dev.release(t_body)
            if self.discovering and now >= next_rssi:
                next_rssi = now + RSSI_EVERY_S
                for dev in self.devices:
                    if dev.in_range() and not dev.connected:
                        dev.export(self.bus)
                        jitter = int(np.random.default_rng().integers(-3, 4))
                        dev.device.emit_properties_changed({"RSSI": dev.rssi + jitter})
            # Wake when the next packet is due (a device sends as soon as a packet is complete), at least every tick.
            due = [d.packets[d.next_packet][0] for d in self.devices if d.family and d.next_packet < len(d.packets)]
            wait_s = TICK_S
            if due and self._body_t0 is not None and not self.flood:
                wait_s = min(TICK_S, max(0.0, min(due) - self.body_time()))
            await asyncio.sleep(wait_s)


DEMO_DEVICES = [
    {"address": "0C:8C:DC:00:00:01", "name": "Movesense 221830000001", "family": "movesense", "role": "pelvis"},
    {"address": "A0:9E:1A:00:00:02", "name": "Polar Sense B5A2C12F", "family": "polar", "role": "trunk"},
]


def demo(duration_s: float = 300.0) -> int:
    """A private bus with two simulated sensors, until Ctrl-C: try ``scan`` and ``record`` without hardware."""
    with PrivateBus() as bus, FakeBlueZ(bus.address, {"duration_s": duration_s, "devices": DEMO_DEVICES}):
        print(f"export DBUS_SYSTEM_BUS_ADDRESS='{bus.address}'")
        print("then, in that shell: stridesense scan; stridesense record --pelvis "
              f"'{DEMO_DEVICES[0]['name']}' --trunk '{DEMO_DEVICES[1]['name']}' --out sessions/", flush=True)
        print(f"(the simulated run lasts {duration_s:.0f} s from the first start command; Ctrl-C here ends it)")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--demo":
        return demo()
    spec = load_spec(argv[0])
    world = World(spec)
    loop = asyncio.new_event_loop()
    task = loop.create_task(world.run())
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    world.write_truth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
