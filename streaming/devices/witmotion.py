"""WitMotion BLE 5.0 IMUs (BWT901BLE / WT901BLECL family).

Vendor protocol ("Bluetooth 5.0 communication protocol", WitMotion SDK docs):
notify characteristic FFE4, write FFE9, service FFE5, all on the base
``-0000-1000-8000-00805f9a34fb`` (9A, not Bluetooth's usual 9B).  Streaming
starts as soon as notifications are on.  The default packet is 20 bytes:
``0x55 0x61`` then nine int16 little-endian values: acceleration x, y, z
(/32768 * 16 g), angular rate x, y, z (/32768 * 2000 deg/s), angles roll,
pitch, yaw (/32768 * 180 deg).  A notification may hold several packets, or
a packet may be split across notifications; the decoder keeps a buffer.
There is no device time or counter: the host's arrival time is all there is.
"""

from __future__ import annotations

import struct

import numpy as np

from stridesense.errors import ProtocolError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.streaming.devices.base import DeviceFamily, ImuSamples

BASE = "-0000-1000-8000-00805f9a34fb"
SERVICE = "0000ffe5" + BASE
NOTIFY = "0000ffe4" + BASE
WRITE = "0000ffe9" + BASE
HEADER = b"\x55\x61"
PACKET = 20
ACC_SCALE = 16.0 * GRAVITY_MPS2 / 32768.0
GYR_SCALE = np.radians(2000.0) / 32768.0
MAX_BUFFER = 4 * PACKET  # garbage beyond this is dropped, counted, never kept growing


class WitMotionDecoder:
    """Stateful decoder of the 0x55 0x61 stream; counts bytes it had to skip."""

    def __init__(self, rate_hz: float | None = None):
        self.rate_hz = rate_hz  # nominal only: the protocol carries no clock
        self._buf = b""
        self.skipped_bytes = 0

    def decode(self, char_uuid: str, payload: bytes) -> list[ImuSamples]:
        if char_uuid.lower() != NOTIFY:
            raise ProtocolError(f"WitMotion data comes on {NOTIFY}, not {char_uuid}", payload)
        buf = self._buf + bytes(payload)
        rows = []
        while True:
            start = buf.find(HEADER)
            if start < 0:
                # Keep a lone 0x55 at the end: it may start the next packet.
                keep = 1 if buf.endswith(b"\x55") else 0
                self.skipped_bytes += len(buf) - keep
                buf = buf[len(buf) - keep:]
                break
            self.skipped_bytes += start
            buf = buf[start:]
            if len(buf) < PACKET:
                break
            rows.append(struct.unpack_from("<9h", buf, 2))
            buf = buf[PACKET:]
        if len(buf) > MAX_BUFFER:
            self.skipped_bytes += len(buf) - MAX_BUFFER
            buf = buf[-MAX_BUFFER:]
        self._buf = buf
        if not rows:
            return []
        raw = np.array(rows, dtype=float)
        return [ImuSamples("imu", raw[:, 0:3] * ACC_SCALE, raw[:, 3:6] * GYR_SCALE)]


class WitMotionEncoder:
    """Samples -> the bytes a WitMotion sensor notifies (angles sent as 0)."""

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz

    def encode(self, acc_mps2, gyr_radps, device_time_s=None) -> list[tuple[str, bytes]]:
        acc = np.clip(np.round(np.asarray(acc_mps2) / ACC_SCALE), -32768, 32767).astype("<i2")
        gyr = np.clip(np.round(np.asarray(gyr_radps) / GYR_SCALE), -32768, 32767).astype("<i2")
        out = []
        for a, g in zip(acc, gyr):
            out.append((NOTIFY, HEADER + struct.pack("<9h", *a, *g, 0, 0, 0)))
        return out

    def respond(self, char_uuid: str, written: bytes) -> list[tuple[str, bytes]]:
        return []  # configuration writes (FF AA reg lo hi) get no reply


class WitMotion(DeviceFamily):
    """WitMotion BWT901BLE / WT901BLECL (BLE 5.0 protocol)."""

    name = "witmotion"
    service_uuid = SERVICE
    notify_uuids = (NOTIFY,)
    control_uuid = WRITE
    experimental = True  # checked against one published packet, not against hardware

    @classmethod
    def matches(cls, name, service_uuids):
        return bool(name and name.upper().startswith(("WT", "BWT"))) or SERVICE in [u.lower() for u in service_uuids]

    @classmethod
    def start_commands(cls, rate_hz):
        # Unlock (FF AA 69 88 B5), then the output-rate register 0x03 (0x09 = 100 Hz, 0x0B = 200 Hz in the
        # vendor's register table for its serial models; NOT verified on a BLE unit, hence experimental).
        code = 0x0B if rate_hz >= 150 else 0x09
        return [(WRITE, bytes([0xFF, 0xAA, 0x69, 0x88, 0xB5])), (WRITE, bytes([0xFF, 0xAA, 0x03, code, 0x00]))]

    @classmethod
    def decoder(cls, rate_hz: float | None = None):
        return WitMotionDecoder(rate_hz)

    @classmethod
    def encoder(cls, rate_hz):
        return WitMotionEncoder(rate_hz)
