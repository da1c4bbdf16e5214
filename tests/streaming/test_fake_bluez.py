"""The fake BlueZ answers as bluetoothd does wherever a D-Bus client can tell.

Each behaviour cites the BlueZ source it copies (github.com/bluez/bluez at
commit 690c16df606733626a0a7d6bc2b83a3244d4ced1).  The calls are made raw
over D-Bus (as bleak makes them), so the exact error names and messages are
checked; a few go through bleak to check what our client then sees.
"""

import asyncio
import time

import pytest
from ble_harness import PELVIS, TRUNK, WITMOTION, bluez, needs_dbus, private_bus  # noqa: F401
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from stridesense.streaming.ble import release_bluetooth
from stridesense.streaming.devices import movesense, polar_pmd, witmotion
from stridesense.streaming.fake_bluez import FIRMWARE_CHAR, _path_of

pytestmark = needs_dbus

CHAR = "org.bluez.GattCharacteristic1"
DEVICE = "org.bluez.Device1"


@pytest.fixture(autouse=True)
async def _bleak_bus_closed():
    yield
    await release_bluetooth()


class Client:
    """One raw D-Bus client of org.bluez that records the signals it sees, in order."""

    def __init__(self, bus):
        self.bus, self.signals = bus, []

    @classmethod
    async def connect(cls):
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self = cls(bus)
        bus.add_message_handler(self._seen)
        await self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                        ["type='signal',sender='org.bluez'"], destination="org.freedesktop.DBus")
        return self

    def _seen(self, msg):
        if msg.message_type == MessageType.SIGNAL:
            self.signals.append((msg.member, msg.path, msg.body))

    async def call(self, path, interface, member, signature="", body=(), destination="org.bluez"):
        return await self.bus.call(Message(destination=destination, path=path, interface=interface,
                                           member=member, signature=signature, body=list(body)))

    async def objects(self) -> dict:
        reply = await self.call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        return reply.body[0]

    async def wait_for(self, member, path, key, value, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(m == member and p == path and b[1].get(key) is not None and b[1][key].value == value
                   for m, p, b in self.signals if m == "PropertiesChanged"):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {key} = {value} on {path}")

    async def discover_and_connect(self, address):
        await self.call("/org/bluez/hci0", "org.bluez.Adapter1", "StartDiscovery")
        path = _path_of(address)
        for _ in range(200):
            if path in await self.objects():
                break
            await asyncio.sleep(0.02)
        await self.call("/org/bluez/hci0", "org.bluez.Adapter1", "StopDiscovery")
        reply = await self.call(path, DEVICE, "Connect")
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        await self.wait_for("PropertiesChanged", path, "ServicesResolved", True)
        return path

    def char_path(self, objects, uuid):
        (path,) = [p for p, ifaces in objects.items() if ifaces.get(CHAR, {}).get("UUID", Variant("s", "")).value == uuid]
        return path


def _gatt_paths(objects):
    return sorted(p for p, ifaces in objects.items() if {"org.bluez.GattService1", CHAR} & set(ifaces))


def _error(reply):
    assert reply.message_type == MessageType.ERROR, reply.body
    return reply.error_name, reply.body[0] if reply.body else None


async def test_gatt_objects_appear_once_services_resolve_and_outlive_a_disconnection(bluez):
    # src/device.c gatt_client_ready_cb: btd_gatt_client_ready (InterfacesAdded) before device_svc_resolved
    # (ServicesResolved); bluetoothd's default Cache = always keeps them after the link goes (gatt_cache_cleanup).
    bluez([PELVIS], duration_s=10)
    c = await Client.connect()
    try:
        await c.call("/org/bluez/hci0", "org.bluez.Adapter1", "StartDiscovery")
        await asyncio.sleep(0.3)
        found = await c.objects()
        assert _path_of(PELVIS["address"]) in found and not _gatt_paths(found)  # discovery: the device only
        await c.call("/org/bluez/hci0", "org.bluez.Adapter1", "StopDiscovery")
        path = await c.discover_and_connect(PELVIS["address"])
        members = [(m, p, b[1].get("ServicesResolved") if m == "PropertiesChanged" else None) for m, p, b in c.signals]
        added = [i for i, (m, p, _) in enumerate(members) if m == "InterfacesAdded" and p.startswith(path + "/")]
        resolved = [i for i, (m, p, v) in enumerate(members) if v is not None and v.value is True]
        connected = [i for i, (m, p, b) in enumerate(c.signals)
                     if m == "PropertiesChanged" and "Connected" in b[1] and b[1]["Connected"].value]
        assert len(added) == 5 and connected[0] < min(added) and max(added) < resolved[0]  # 2 services, 3 chars
        gatt = _gatt_paths(await c.objects())
        assert len(gatt) == 5

        started = time.monotonic()
        assert (await c.call(path, DEVICE, "Disconnect")).message_type == MessageType.METHOD_RETURN
        # src/device.c device_request_disconnect: the link drops DISCONNECT_TIMER (2 s) later, then the reply.
        assert time.monotonic() - started >= 1.9
        props = (await c.objects())[path][DEVICE]
        assert not props["Connected"].value and not props["ServicesResolved"].value
        assert _gatt_paths(await c.objects()) == gatt  # cached: still there
        assert not [s for s in c.signals if s[0] == "InterfacesRemoved"]
    finally:
        c.bus.disconnect()


async def test_with_gatt_cache_off_a_disconnection_removes_the_gatt_objects_and_a_reconnection_adds_them(bluez):
    bluez([dict(PELVIS, gatt_cache="no", disconnect_timer_s=0.1)], duration_s=10)
    c = await Client.connect()
    try:
        path = await c.discover_and_connect(PELVIS["address"])
        gatt = _gatt_paths(await c.objects())
        assert len(gatt) == 5
        await c.call(path, DEVICE, "Disconnect")
        assert sorted(p for m, p, _ in c.signals if m == "InterfacesRemoved") == gatt
        assert not _gatt_paths(await c.objects())
        assert (await c.call(path, DEVICE, "Connect")).message_type == MessageType.METHOD_RETURN
        await asyncio.sleep(0.3)
        assert _gatt_paths(await c.objects()) == gatt
    finally:
        c.bus.disconnect()


async def test_notify_sessions_are_per_client_as_bluetoothd_keeps_them(bluez):
    bluez([PELVIS], duration_s=10)
    c, other = await Client.connect(), await Client.connect()
    try:
        await c.discover_and_connect(PELVIS["address"])
        objects = await c.objects()
        data, command = c.char_path(objects, movesense.NOTIFY), c.char_path(objects, movesense.WRITE)
        # characteristic_start_notify: a second StartNotify of one client is a plain return ...
        for _ in range(2):
            assert (await c.call(data, CHAR, "StartNotify")).message_type == MessageType.METHOD_RETURN
        # ... a characteristic without notify / indicate is NotSupported.
        assert _error(await c.call(command, CHAR, "StartNotify")) == ("org.bluez.Error.NotSupported",
                                                                      "Operation is not supported")
        # characteristic_stop_notify: a client without a session of its own is refused.
        assert _error(await other.call(data, CHAR, "StopNotify")) == ("org.bluez.Error.Failed",
                                                                      "No notify session started")
        assert (await other.call(data, CHAR, "StartNotify")).message_type == MessageType.METHOD_RETURN
        assert (await c.call(data, CHAR, "StopNotify")).message_type == MessageType.METHOD_RETURN
        assert _error(await c.call(data, CHAR, "StopNotify"))[0] == "org.bluez.Error.Failed"
        assert (await c.objects())[data][CHAR]["Notifying"].value  # the other client's session
        # notify_client_disconnect: a client leaving the bus ends its sessions.
        other.bus.disconnect()
        await c.wait_for("PropertiesChanged", data, "Notifying", False)
    finally:
        c.bus.disconnect()


async def test_reads_and_writes_are_checked_by_the_peripheral_and_need_a_link(bluez):
    bluez([PELVIS, WITMOTION], duration_s=10)
    c = await Client.connect()
    try:
        path = await c.discover_and_connect(PELVIS["address"])
        await c.discover_and_connect(WITMOTION["address"])
        objects = await c.objects()
        command, data = c.char_path(objects, movesense.WRITE), c.char_path(objects, movesense.NOTIFY)
        ffe9 = c.char_path(objects, witmotion.WRITE)
        firmware = [p for p in objects if p.startswith(path) and objects[p].get(CHAR, {}).get("UUID") is not None
                    and objects[p][CHAR]["UUID"].value == FIRMWARE_CHAR][0]
        request, command_type = {"type": Variant("s", "request")}, {"type": Variant("s", "command")}
        assert (await c.call(firmware, CHAR, "ReadValue", "a{sv}", [{}])).body[0] == b"2.1.0"
        # A read of a characteristic without "read": the peripheral's ATT error (create_gatt_dbus_error).
        assert _error(await c.call(data, CHAR, "ReadValue", "a{sv}", [{}])) == ("org.bluez.Error.NotPermitted",
                                                                                "Read not permitted")
        # A write request where the peripheral declares only write-without-response.
        assert _error(await c.call(ffe9, CHAR, "WriteValue", "aya{sv}", [b"\xff\xaa\x27\x03\x00", request])) == (
            "org.bluez.Error.NotPermitted", "Write not permitted")
        # A write command where only "write" is declared is dropped by the peripheral: no error, no answer.
        await c.call(data, CHAR, "StartNotify")
        hello = bytes([0, 7])
        n = len(c.signals)
        assert (await c.call(command, CHAR, "WriteValue", "aya{sv}", [hello, command_type])).message_type == \
            MessageType.METHOD_RETURN
        await asyncio.sleep(0.3)
        assert not [s for s in c.signals[n:] if s[1] == data]
        # The same as a request is answered ("Hello" on the data characteristic).
        assert (await c.call(command, CHAR, "WriteValue", "aya{sv}", [hello, request])).message_type == \
            MessageType.METHOD_RETURN
        await c.wait_for("PropertiesChanged", data, "Value", bytes([1, 7]) + b"Hello")
        # characteristic_write_value: a second write while a request awaits its answer is InProgress.
        first, second = await asyncio.gather(*(c.call(command, CHAR, "WriteValue", "aya{sv}", [hello, request])
                                               for _ in range(2)))
        assert first.message_type == MessageType.METHOD_RETURN
        assert _error(second) == ("org.bluez.Error.InProgress", "In Progress")
        # src/shared/att.c encode_pdu: a write command longer than MTU - 3 cannot be sent.
        assert _error(await c.call(ffe9, CHAR, "WriteValue", "aya{sv}", [bytes(245), command_type])) == (
            "org.bluez.Error.Failed", "Failed to initiate write")
        # dev_connect: Connect on a connected device is a plain return.
        assert (await c.call(path, DEVICE, "Connect")).message_type == MessageType.METHOD_RETURN
        # Without a link (the objects are cached): Failed "Not connected".
        await c.call(path, DEVICE, "Disconnect")
        assert _error(await c.call(command, CHAR, "WriteValue", "aya{sv}", [hello, request])) == (
            "org.bluez.Error.Failed", "Not connected")
        assert _error(await c.call(firmware, CHAR, "ReadValue", "a{sv}", [{}]))[1] == "Not connected"
    finally:
        c.bus.disconnect()


async def test_bleak_sees_the_peripherals_refusals_as_gatt_protocol_errors(bluez):
    from bleak import BleakClient, BleakScanner
    from bleak.exc import BleakGATTProtocolError

    bluez([TRUNK, WITMOTION], duration_s=10)
    found = {d.address: d for d in await BleakScanner.discover(1.0)}
    async with BleakClient(found[WITMOTION["address"]]) as client:
        assert client.services.get_characteristic(witmotion.WRITE).properties == ["write-without-response"]
        with pytest.raises(BleakGATTProtocolError, match="WRITE_NOT_PERMITTED|Write Not Permitted|0x03"):
            await client.write_gatt_char(witmotion.WRITE, b"\xff\xaa\x27\x03\x00", response=True)
        await client.write_gatt_char(witmotion.WRITE, b"\xff\xaa\x27\x03\x00", response=False)
    async with BleakClient(found[TRUNK["address"]]) as client:
        assert sorted(client.services.get_characteristic(polar_pmd.CONTROL).properties) == ["indicate", "read", "write"]
        with pytest.raises(BleakGATTProtocolError, match="READ_NOT_PERMITTED|Read Not Permitted|0x02"):
            await client.read_gatt_char(polar_pmd.DATA)


async def test_connect_waits_for_a_device_out_of_range_until_it_is_back_or_disconnect_cancels(bluez):
    # The kernel keeps trying to reach the device; src/device.c device_request_disconnect cancels a pending
    # Connect (Failed "br-connection-canceled") and, the device not being connected, returns at once.
    fake = bluez([WITMOTION, dict(PELVIS, drops=[[0.5, 3.0], [6.0, 20.0]])], duration_s=30)
    c = await Client.connect()
    try:
        await c.discover_and_connect(WITMOTION["address"])
        objects = await c.objects()
        await c.call(c.char_path(objects, witmotion.NOTIFY), CHAR, "StartNotify")  # starts the simulated run
        await asyncio.sleep(0.8)
        body_t0 = fake.truth()["body_t0_monotonic_s"]  # on this host's monotonic clock
        path = _path_of(PELVIS["address"])
        assert 0.5 <= time.monotonic() - body_t0 < 3.5  # the pelvis is out of range from 0.5 s to 3.5 s
        assert (await c.call(path, DEVICE, "Connect")).message_type == MessageType.METHOD_RETURN
        assert time.monotonic() - body_t0 >= 3.5  # connected once back in range
        await c.call(path, DEVICE, "Disconnect")
        await asyncio.sleep(max(0.0, body_t0 + 6.1 - time.monotonic()))  # out of range again from 6.0 s
        pending = asyncio.ensure_future(c.call(path, DEVICE, "Connect"))
        await asyncio.sleep(0.3)
        assert not pending.done()
        assert (await c.call(path, DEVICE, "Disconnect")).message_type == MessageType.METHOD_RETURN
        assert _error(await pending) == ("org.bluez.Error.Failed", "br-connection-canceled")
    finally:
        c.bus.disconnect()


async def test_a_notification_carries_at_most_mtu_minus_3_bytes(bluez):
    # Core spec Vol 3 Part F 3.4.7.1; a Movesense sends 155-byte packets whatever the link's MTU.
    bluez([dict(PELVIS, mtu=100)], duration_s=10)
    c = await Client.connect()
    try:
        await c.discover_and_connect(PELVIS["address"])
        objects = await c.objects()
        data, command = c.char_path(objects, movesense.NOTIFY), c.char_path(objects, movesense.WRITE)
        assert objects[data][CHAR]["MTU"].value == 100
        await c.call(data, CHAR, "StartNotify")
        await c.call(command, CHAR, "WriteValue", "aya{sv}", [bytes([1, 99]) + b"Meas/IMU6/208",
                                                                {"type": Variant("s", "request")}])
        await asyncio.sleep(1.0)
        sizes = {len(b[1]["Value"].value) for m, p, b in c.signals if m == "PropertiesChanged" and p == data
                 and "Value" in b[1]}
        assert max(sizes) == 97
    finally:
        c.bus.disconnect()
