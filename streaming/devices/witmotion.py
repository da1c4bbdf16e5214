"""WitMotion BLE 5.0 IMUs (BWT901BLE / WT901BLECL family).

As WitMotion's own SDK reads them (github.com/WITMOTION/WitBluetooth_BWT901BLE5_0:
Python/BWT901BLE5.0_python_sdk/device_model.py, IOS_swift/.../BWT901BLE5_0ProtocolResolver.swift,
IOS_swift/BleExample/BleExampleApp.swift): service FFE5, notify FFE4, write FFE9,
on the base ``-0000-1000-8000-00805f9a34fb`` (9A, not Bluetooth's usual 9B).
Streaming starts when notifications are on.  The stream is made of fixed
20-byte packets: ``55 61`` + nine int16 LE (acceleration x, y, z / 32768 x
16 g; angular rate / 32768 x 2000 deg/s; angles / 32768 x 180 deg), or
``55 71`` + a register address (u16 LE) + four int16 register values (a
reply to a register read, sharing the stream).  Packets are found as the
vendor's parser finds them: a 0x55 then 0x61 or 0x71 starts a packet, and
its next 18 bytes are taken whole (so 55 61 inside a packet is data, never a
new packet); bytes that start no packet are skipped one at a time.
Settings are written ``FF AA reg lo hi``: unlock (``FF AA 69 88 B5``), wait
100 ms, set, wait 100 ms, save (``FF AA 00 00 00``) -- without the save the
setting is lost at power-off.  Output rate: register 0x03 (0x06 = 10 Hz,
0x08 = 50 Hz in the vendor's example; 0x07 20, 0x09 100, 0x0B 200 Hz in its
register table).  There is no device time or counter.
"""

from __future__ import annotations

import numpy as np

from stridesense.errors import ProtocolError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.streaming.devices.base import DeviceFamily, ImuSamples

BASE = "-0000-1000-8000-00805f9a34fb"
SERVICE = "0000ffe5" + BASE
NOTIFY = "0000ffe4" + BASE
WRITE = "0000ffe9" + BASE
HEADER, DATA, REGISTER = 0x55, 0x61, 0x71
PACKET = 20
ACC_SCALE = 16.0 * GRAVITY_MPS2 / 32768.0
GYR_SCALE = np.radians(2000.0) / 32768.0
RATE_CODES = {10: 0x06, 20: 0x07, 50: 0x08, 100: 0x09, 200: 0x0B}  # output-rate register 0x03
RATE_REGISTER, UNLOCK, SAVE = 0x03, bytes([0xFF, 0xAA, 0x69, 0x88, 0xB5]), bytes([0xFF, 0xAA, 0x00, 0x00, 0x00])
SETTLE_S = 0.1  # the vendor SDK waits 100 ms after the unlock and after the write


def write_register(register: int, value: int) -> bytes:
    """``FF AA reg lo hi`` (device_model.get_writeBytes)."""
    return bytes([0xFF, 0xAA, register, value & 0xFF, (value >> 8) & 0xFF])


def read_register(register: int) -> bytes:
    """``FF AA 27 reg 00``: ask for four registers from ``register`` (device_model.get_readBytes)."""
    return bytes([0xFF, 0xAA, 0x27, register, 0x00])


class WitMotionDecoder:
    """The vendor's 20-byte packet parser; counts bytes skipped and keeps register replies.

    Attributes
    ----------
    skipped_bytes
        Bytes that started no packet.
    registers
        Register -> last value read back (``55 71`` replies).
    """

    def __init__(self, rate_hz: float | None = None):
        self.rate_hz = rate_hz  # nominal only: the protocol carries no clock
        self._packet = bytearray()
        self.skipped_bytes = 0
        self.registers: dict[int, int] = {}

    def decode(self, char_uuid: str, payload: bytes) -> list[ImuSamples]:
        if char_uuid.lower() != NOTIFY:
            raise ProtocolError(f"WitMotion data comes on {NOTIFY}, not {char_uuid}", payload)
        rows = []
        p = self._packet
        data, i = bytes(payload), 0
        while i < len(data):
            if not p and i + PACKET <= len(data) and data[i] == HEADER and data[i + 1] in (DATA, REGISTER):
                self._packet_done(data[i:i + PACKET], rows)  # a whole packet at once (the usual case)
                i += PACKET
                continue
            b = data[i]
            i += 1
            p.append(b)
            if len(p) == 1 and b != HEADER:
                p.clear()
                self.skipped_bytes += 1
            elif len(p) == 2 and b not in (DATA, REGISTER):
                del p[0]  # as the vendor: drop the 0x55; this byte may start the next packet
                self.skipped_bytes += 1
                if p[0] != HEADER:
                    p.clear()
                    self.skipped_bytes += 1
            elif len(p) == PACKET:
                self._packet_done(bytes(p), rows)
                p.clear()
        if not rows:
            return []
        raw = np.array(rows, dtype=float)
        return [ImuSamples("imu", raw[:, 0:3] * ACC_SCALE, raw[:, 3:6] * GYR_SCALE)]

    def _packet_done(self, packet: bytes, rows: list) -> None:
        values = np.frombuffer(packet, dtype="<i2", offset=2, count=9)
        if packet[1] == DATA:
            rows.append(values)
        else:
            register = packet[2] | (packet[3] << 8)
            for k in range(4):
                self.registers[register + k] = int(np.frombuffer(packet, "<i2", 1, 4 + 2 * k)[0])


class WitMotionEncoder:
    """Samples -> the bytes a WitMotion sensor notifies (angles sent as 0); answers register reads."""

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self.registers = {RATE_REGISTER: 0x06}  # 10 Hz out of the box
        self.unlocked = False
        self.saved: dict[int, int] = {}

    def encode(self, acc_mps2, gyr_radps, device_time_s=None) -> list[tuple[str, bytes]]:
        acc = np.clip(np.round(np.asarray(acc_mps2) / ACC_SCALE), -32768, 32767).astype("<i2")
        gyr = np.clip(np.round(np.asarray(gyr_radps) / GYR_SCALE), -32768, 32767).astype("<i2")
        rows = np.hstack([acc, gyr, np.zeros((len(acc), 3), "<i2")]).astype("<i2")
        return [(NOTIFY, bytes([HEADER, DATA]) + row.tobytes()) for row in rows]

    def register_reply(self, register: int) -> bytes:
        """``55 71 reg_lo reg_hi`` + four int16 register values + padding to 20 bytes."""
        values = [self.registers.get(register + k, 0) for k in range(4)]
        return (bytes([HEADER, REGISTER, register & 0xFF, register >> 8])
                + np.array(values, "<i2").tobytes()).ljust(PACKET, b"\x00")

    def respond(self, char_uuid: str, written: bytes) -> list[tuple[str, bytes]]:
        if char_uuid.lower() != WRITE or len(written) != 5 or written[:2] != b"\xff\xaa":
            return []
        register, value = written[2], written[3] | (written[4] << 8)
        if written == UNLOCK:
            self.unlocked = True
        elif register == 0x27:
            return [(NOTIFY, self.register_reply(value))]
        elif written == SAVE:
            self.saved = dict(self.registers)
            self.unlocked = False
        elif self.unlocked:
            self.registers[register] = value
        return []


class WitMotion(DeviceFamily):
    """WitMotion BWT901BLE / WT901BLECL (BLE 5.0 protocol)."""

    name = "witmotion"
    service_uuid = SERVICE
    notify_uuids = (NOTIFY,)
    control_uuid = WRITE
    experimental = True  # parser and commands as the vendor's SDK; no recorded packet from a sensor checked

    @classmethod
    def matches(cls, name, service_uuids):
        return bool(name and name.upper().startswith(("WT", "BWT"))) or SERVICE in [u.lower() for u in service_uuids]

    @classmethod
    def rate(cls, rate_hz: float) -> int:
        """The output rate nearest the wanted one (ties to the higher)."""
        return min(RATE_CODES, key=lambda r: (abs(r - rate_hz), -r))

    @classmethod
    def start_steps(cls, rate_hz):
        """Unlock, wait, set the output rate, wait, save (kept after power-off), then read it back."""
        return [(WRITE, UNLOCK, SETTLE_S), (WRITE, write_register(RATE_REGISTER, RATE_CODES[cls.rate(rate_hz)]),
                                            SETTLE_S), (WRITE, SAVE, 0.0), (WRITE, read_register(RATE_REGISTER), 0.0)]

    @classmethod
    def start_commands(cls, rate_hz):
        return [(char, payload) for char, payload, _ in cls.start_steps(rate_hz)]

    @classmethod
    def decoder(cls, rate_hz: float | None = None):
        return WitMotionDecoder(None if rate_hz is None else cls.rate(rate_hz))

    @classmethod
    def encoder(cls, rate_hz, **options):
        return WitMotionEncoder(cls.rate(rate_hz), **options)
