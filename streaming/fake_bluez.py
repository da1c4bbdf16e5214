"""A simulated BlueZ serving simulated sensors on a private D-Bus: Bluetooth without hardware.

bleak's BlueZ backend talks to ``org.bluez`` on the D-Bus *system* bus, whose
address it reads from ``DBUS_SYSTEM_BUS_ADDRESS``.  :class:`PrivateBus` starts
a private ``dbus-daemon``; :class:`FakeBlueZ` runs *this module* in a process
of its own on that bus.  It exports an adapter and devices with BlueZ's
object paths, properties and methods, and, once a connection has resolved
them, the devices' GATT services and characteristics.  Wherever a D-Bus
client can tell, it answers as bluetoothd does (each case cites BlueZ's
source; tests/streaming/test_fake_bluez.py checks them).  Each device answers control-point writes as its family's
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
# What bluetoothd (BlueZ 690c16df, src/device.c, src/gatt-client.c) and Linux do, in time:
DISCONNECT_TIMER_S = 2.0  # src/device.c DISCONNECT_TIMER: device_request_disconnect drops the link 2 s later
SUPERVISION_TIMEOUT_S = 0.42  # Linux hci_core.c le_supv_timeout 0x002a: a silent link is declared lost after this
CONN_INTERVAL_S = 0.03  # Linux le_conn_min_interval 0x0018 x 1.25 ms: a request's answer comes a connection event later
LE_CONN_TIMEOUT_S = 20.0  # Linux HCI_LE_CONN_TIMEOUT: how long the kernel tries to reach a device
RESOLVE_S = 0.05  # Connect's reply to ServicesResolved: the GATT discovery (longer on real links)
FIRMWARE_REVISION = "2.1.0"  # the Device Information service's Firmware Revision String, unless the spec says
DEVICE_INFO = "0000180a-0000-1000-8000-00805f9b34fb"
FIRMWARE_CHAR = "00002a26-0000-1000-8000-00805f9b34fb"

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
    (the simulated sensor's options, e.g. {"sdk_mode_firmware": false}),
    ``mtu``, ``firmware`` (its Device Information firmware revision),
    ``flags`` ({char uuid: [...]}, to declare other characteristic properties),
    and how bluetoothd and the link behave: ``gatt_cache`` ("always", bluetoothd's
    default, or "no"), ``disconnect_timer_s``, ``supervision_timeout_s``,
    ``conn_interval_s`` (module constants give the defaults and their sources).
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
        return self.dev.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":
        return self.dev.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return [self.dev.service_uuid] if self.dev.service_uuid else []

    @method()
    async def Connect(self):
        """src/device.c dev_connect: InProgress while a Connect is pending, a plain return when connected
        already; the reply comes once the link is up (att_connect_cb), the services are resolved after it.
        Connect to a device out of range waits for it (the kernel's connection attempt)."""
        dev = self.dev
        if dev.connecting:
            raise DBusError("org.bluez.Error.InProgress", "In Progress")
        if dev.connected:
            return
        dev.connecting, dev.connect_cancelled = True, False
        try:
            await asyncio.sleep(0.02)
            # The kernel keeps trying a device out of range (for HCI_LE_CONN_TIMEOUT, 20 s) and connects when it
            # is back; a Disconnect meanwhile cancels (src/device.c device_request_disconnect).
            deadline = time.monotonic() + LE_CONN_TIMEOUT_S
            while not dev.in_range() and not dev.connect_cancelled and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if dev.connect_cancelled:
                raise DBusError("org.bluez.Error.Failed", "br-connection-canceled")
            if not dev.in_range():
                raise DBusError("org.bluez.Error.Failed", "le-connection-abort-by-local")
            dev.connected = True
            dev.lost_since = None
            self.emit_properties_changed({"Connected": True})
        finally:
            dev.connecting = False
        dev.world.spawn(dev.resolve_services())

    @method()
    async def Disconnect(self):
        """src/device.c device_request_disconnect: a plain return when not connected; else the link is
        dropped DISCONNECT_TIMER later (disconnect_all) and the reply follows Connected = False."""
        dev = self.dev
        if dev.connecting:
            dev.connect_cancelled = True
        if not dev.connected:
            return
        if not dev.disconnecting:
            dev.disconnecting = True
            try:
                await asyncio.sleep(dev.disconnect_timer_s)
            finally:
                dev.disconnecting = False
            dev.link_lost()
        while dev.connected:  # a second Disconnect waits for the first
            await asyncio.sleep(0.01)


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
    """A remote characteristic as bluetoothd exports it (BlueZ src/gatt-client.c, characteristic_*).

    bluetoothd checks little itself: a read or a write request goes to the
    peripheral whatever the Flags say, and the *peripheral* answers with an
    ATT error (org.bluez.Error.NotPermitted "Read not permitted" / "Write
    not permitted", create_gatt_dbus_error); a write command the peripheral
    does not accept is dropped by it without any answer.  Notify sessions
    are per D-Bus client (StartNotify / StopNotify are answered by
    :meth:`World.sender_call`, which knows the caller).
    """

    def __init__(self, dev, uuid: str, service_path: str, flags: list, value: bytes = b""):
        super().__init__("org.bluez.GattCharacteristic1")
        self.dev, self.uuid, self.service_path, self.flags = dev, uuid, service_path, flags
        self.value = value
        self.sessions: set = set()  # D-Bus names with a notify session (BlueZ: chrc->notify_clients)
        self.writing = False  # a write request awaits the peripheral's answer (BlueZ: chrc->write_op)

    @property
    def subscribed(self) -> bool:
        """The peripheral sends: connected, and bluetoothd wrote its CCCD for some client's session."""
        return self.dev.connected and bool(self.sessions)

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
        return bool(self.sessions)

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":
        return self.dev.mtu

    @method()
    async def ReadValue(self, options: "a{sv}") -> "ay":
        """characteristic_read_value: Failed "Not connected" without a link; the peripheral refuses a
        characteristic without "read" (ATT Read Not Permitted)."""
        if not self.dev.connected:
            raise DBusError("org.bluez.Error.Failed", "Not connected")
        await asyncio.sleep(self.dev.conn_interval_s)
        if not self.dev.connected:
            raise DBusError("org.bluez.Error.Failed", "Operation failed")
        if "read" not in self.flags:
            raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")
        return self.value

    @method()
    async def WriteValue(self, value: "ay", options: "a{sv}"):
        """characteristic_write_value: the write type is the caller's "type" ("request" / "command"), or
        without it the first of "write", "write-without-response" in Flags (else NotSupported)."""
        if not self.dev.connected:
            raise DBusError("org.bluez.Error.Failed", "Not connected")
        if self.writing:
            raise DBusError("org.bluez.Error.InProgress", "In Progress")
        kind = options["type"].value.lower() if "type" in options else None
        if kind is None:
            kind = "request" if "write" in self.flags else "command" if "write-without-response" in self.flags else ""
        if kind in ("request", "reliable"):
            self.writing = True
            try:
                await asyncio.sleep(self.dev.conn_interval_s)  # the write response comes a connection event later
            finally:
                self.writing = False
            if not self.dev.connected:
                raise DBusError("org.bluez.Error.Failed", "Operation failed")
            if "write" not in self.flags:
                raise DBusError("org.bluez.Error.NotPermitted", "Write not permitted")
        elif kind != "command":
            raise DBusError("org.bluez.Error.NotSupported", "Operation is not supported")
        elif len(value) > self.dev.mtu - 3:  # src/shared/att.c encode_pdu: a PDU longer than the MTU is not sent
            raise DBusError("org.bluez.Error.Failed", "Failed to initiate write")
        elif "write-without-response" not in self.flags:
            return  # the peripheral ignores a write command it does not accept: no error, nothing happens
        loop = asyncio.get_running_loop()
        loop.call_later(self.dev.conn_interval_s, self.dev.written, self.uuid, bytes(value))  # answers come later

    @method()
    def StartNotify(self):
        raise DBusError("org.bluez.Error.Failed", "answered by World.sender_call")  # never reached

    @method()
    def StopNotify(self):
        raise DBusError("org.bluez.Error.Failed", "answered by World.sender_call")  # never reached

    def notify(self, payload: bytes) -> None:
        payload = payload[:self.dev.mtu - 3]  # Core spec Vol 3 Part F 3.4.7.1: a notification carries MTU - 3 bytes
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
        self.connected = self.connecting = self.disconnecting = self.services_resolved = False
        self.connect_cancelled = False
        self.lost_since: float | None = None  # when the device went out of range on a live link
        self.exported = self.gatt_exported = False
        # bluetoothd's main.conf [GATT] Cache: "always" (its default) keeps the GATT objects after a
        # disconnection, "no" removes them (src/device.c gatt_cache_is_enabled, gatt_cache_cleanup).
        self.gatt_cache = d.get("gatt_cache", "always")
        self.disconnect_timer_s = float(d.get("disconnect_timer_s", DISCONNECT_TIMER_S))
        self.supervision_timeout_s = float(d.get("supervision_timeout_s", SUPERVISION_TIMEOUT_S))
        self.conn_interval_s = float(d.get("conn_interval_s", CONN_INTERVAL_S))
        self.family = FAMILIES[d["family"]].for_advert(d["name"]) if d.get("family") else None
        self.service_uuid = self.family.service_uuid if self.family else "0000180f-0000-1000-8000-00805f9b34fb"
        self.device = Device1(self)
        self.chars: dict[str, GattCharacteristic1] = {}
        self.services: list = []  # (path, GattService1)
        self.started: set = set()  # what the device was told to stream
        self.packets: list = []  # (release body time s, char uuid, bytes)
        self.next_packet = 0
        self.packets_sent = 0
        self.covers: list = []  # per packet: (stream, index of the last sample it completes)
        self.covered: dict = {}  # stream -> the last sample index sent
        if self.family is None:
            return
        info_path = f"{self.path}/service000c"  # Device Information, before the sensor's own service
        self.services.append((info_path, GattService1(DEVICE_INFO, self.path)))
        firmware = GattCharacteristic1(self, FIRMWARE_CHAR, info_path, ["read"],
                                       str(d.get("firmware", FIRMWARE_REVISION)).encode())
        firmware.path = f"{info_path}/char000d"
        self.chars[FIRMWARE_CHAR] = firmware
        service_path = f"{self.path}/service{0x10 + 0x20 * index:04x}"
        self.services.append((service_path, GattService1(self.family.service_uuid, self.path)))
        uuids = list(dict.fromkeys([*self.family.notify_uuids, self.family.control_uuid]))
        flags = {**_declared_flags(self.family), **d.get("flags", {})}
        for k, uuid in enumerate(uuids):
            self.chars[uuid] = GattCharacteristic1(self, uuid, service_path, flags[uuid])
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
        options = dict(d.get("device", {}))  # e.g. {"sdk_mode_firmware": False}
        if self.family.name == "polar":
            options.setdefault("mtu", self.mtu)  # a Polar fills its frames to the link's MTU
        enc = self.family.encoder(rate_hz, **options)
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
        """The device object, as discovery finds it: no GATT objects before the first connection."""
        if self.exported:
            return
        self.exported = True
        bus.export(self.path, self.device)

    def export_gatt(self, bus: MessageBus) -> None:
        """The services and characteristics, InterfacesAdded each (src/gatt-client.c btd_gatt_client_ready
        -> create_services, before src/device.c device_svc_resolved sets ServicesResolved)."""
        if self.gatt_exported:
            return
        self.gatt_exported = True
        for path, service in self.services:
            bus.export(path, service)
        for char in self.chars.values():
            bus.export(char.path, char)

    def unexport_gatt(self, bus: MessageBus) -> None:
        """InterfacesRemoved for every GATT object; the notify sessions go with them (gatt_db_clear ->
        btd_gatt_client_service_removed -> unregister_service)."""
        if not self.gatt_exported:
            return
        self.gatt_exported = False
        for char in self.chars.values():
            char.sessions.clear()
            bus.unexport(char.path)
        for path, _ in self.services:
            bus.unexport(path)

    async def resolve_services(self) -> None:
        """After Connect's reply: the GATT discovery, then ServicesResolved; notify sessions that outlived
        a disconnection are registered again (src/gatt-client.c btd_gatt_client_connected, register_notify)."""
        await asyncio.sleep(RESOLVE_S)
        if not self.connected or self.services_resolved:
            return
        self.export_gatt(self.world.bus)
        self.services_resolved = True
        self.device.emit_properties_changed({"ServicesResolved": True})
        self.notifying_changed()

    def link_lost(self) -> None:
        """The link is gone (Disconnect, or out of range for the supervision timeout)."""
        self.started.clear()
        getattr(self.encoder, "started", set()).clear()  # a lost link ends the sensor's measurements too
        if self.connected:
            self.connected = self.services_resolved = False
            if self.gatt_cache == "no":  # the ATT channel closes first: src/device.c att_disconnected_cb
                self.unexport_gatt(self.world.bus)
            # src/device.c device_remove_connection: ServicesResolved, then Connected
            self.device.emit_properties_changed({"ServicesResolved": False})
            self.device.emit_properties_changed({"Connected": False})

    def written(self, uuid: str, value: bytes) -> None:
        if not self.connected:
            return  # the link went down before the peripheral acted on it
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
            if self.chars[char.lower()].subscribed:
                self.chars[char.lower()].notify(payload)
        self.world.body_clock_starts()

    def notifying_changed(self) -> None:
        if self.family is not None and self.family.name == "witmotion":  # streams as soon as notifications are on
            self.started = {"imu"} if any(c.subscribed for c in self.chars.values()) else set()
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
            listening = c.subscribed and self.in_range() and self._wanted(payload)
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


def _declared_flags(family) -> dict:
    """Each characteristic's properties as the real sensor declares them (what bluetoothd puts in Flags).

    Polar PMD: control point read, write, indicate; data notify (Polar's measurement data
    specification, as polarofficial/polar-ble-sdk uses it).  Movesense GATT SensorData: command
    WRITE, data NOTIFY (movesense-device-lib samples/gatt_sensordata_app/GATTSensorDataClient.cpp,
    configGattSvc).  WitMotion: FFE9 is written without response by the vendor's own SDK
    (WITMOTION/WitBluetooth_BWT901BLE5_0 IOS_swift/.../BluetoothBLE.swift, sendData), FFE4 notifies;
    whether FFE9 also takes write requests is undocumented, so the fake declares only what is shown.
    """
    declared = {"polar": {"control": ["read", "write", "indicate"], "notify": ["notify"]},
                "movesense": {"control": ["write"], "notify": ["notify"]},
                "witmotion": {"control": ["write-without-response"], "notify": ["notify"]}}
    kinds = declared.get(family.name, {"control": ["write"], "notify": ["notify"]})
    flags = {uuid: list(kinds["notify"]) for uuid in family.notify_uuids}
    if family.control_uuid:
        flags[family.control_uuid] = list(kinds["control"])
    return flags


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
        self._tasks: set = set()

    def spawn(self, coro) -> None:
        """Run ``coro`` in the background (kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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

    def sender_call(self, msg):
        """The calls bluetoothd answers per D-Bus client (it needs the caller's bus name), and the
        client's leaving the bus, which ends its discovery and its notify sessions."""
        if msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged":
            name, _old, new = msg.body
            if not new:
                self._client_left(name)
            return None
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        if msg.interface == "org.bluez.Adapter1" and msg.member in ("StartDiscovery", "StopDiscovery"):
            return self.discovery_call(msg)
        if msg.interface == "org.bluez.GattCharacteristic1" and msg.member in ("StartNotify", "StopNotify"):
            char = self._exported_chars().get(msg.path)
            return None if char is None else self.notify_call(msg, char)
        return None

    def _exported_chars(self) -> dict:
        return {c.path: c for d in self.devices if d.gatt_exported for c in d.chars.values()}

    def _client_left(self, name: str) -> None:
        if name in self.discovery_clients:
            self.discovery_clients.discard(name)
            self._discovery_changed()
        for char in self._exported_chars().values():  # src/gatt-client.c notify_client_disconnect
            if name in char.sessions:
                char.sessions.discard(name)
                self._notifying_changed(char, not char.sessions)

    def notify_call(self, msg, char) -> Message:
        """StartNotify / StopNotify as src/gatt-client.c answers them.

        characteristic_start_notify: NotConnected while the device is
        disconnecting, NotSupported without "notify" / "indicate", a plain
        return for a client that has a session already (one per client); a
        session taken while disconnected is registered on the next
        connection.  characteristic_stop_notify: Failed "No notify session
        started" for a client without one.
        """
        sender = msg.sender
        if msg.member == "StartNotify":
            if char.dev.disconnecting:
                return Message.new_error(msg, "org.bluez.Error.NotConnected", "Not Connected")
            if not {"notify", "indicate"} & set(char.flags):
                return Message.new_error(msg, "org.bluez.Error.NotSupported", "Operation is not supported")
            if sender not in char.sessions:
                char.sessions.add(sender)
                self._notifying_changed(char, len(char.sessions) == 1)
            return Message.new_method_return(msg)
        if sender not in char.sessions:
            return Message.new_error(msg, "org.bluez.Error.Failed", "No notify session started")
        char.sessions.discard(sender)
        self._notifying_changed(char, not char.sessions)
        return Message.new_method_return(msg)

    @staticmethod
    def _notifying_changed(char, changed: bool) -> None:
        if changed:
            char.emit_properties_changed({"Notifying": bool(char.sessions)})
        char.dev.notifying_changed()

    def discovery_call(self, msg):
        """Answer Adapter1.StartDiscovery / StopDiscovery as bluetoothd does: one session per client.

        BlueZ src/adapter.c: start_discovery() answers a client that already
        has a session with btd_error_busy (org.bluez.Error.InProgress);
        stop_discovery() one without a session with "No discovery started";
        a client leaving the bus ends its session (a disconnect watch).
        """
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
        self.bus.add_message_handler(self.sender_call)
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
                if dev.connected and not dev.in_range():  # silent: lost once the supervision timeout passes
                    dev.lost_since = now if dev.lost_since is None else dev.lost_since
                    if now - dev.lost_since >= dev.supervision_timeout_s:
                        dev.link_lost()
                else:
                    dev.lost_since = None
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
