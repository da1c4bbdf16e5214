"""Movesense sensors running the gatt_sensordata_app firmware (GATT SensorData Protocol).

From Movesense's sample firmware samples/gatt_sensordata_app/
GATTSensorDataClient.cpp (movesense-device-lib; copy read at
alexisduque/movesense-device-lib c9c12269314fc86bcbb7619ac08a1954a1d722e2) and
its Python client: service 34802252-7185-4d5d-b431-630e7050e8f0, write
34800001-..., notify 34800002-...  Commands are ``[1, ref, path]``
(subscribe, path such as ``/Meas/IMU6/208``), ``[2, ref]`` (unsubscribe),
``[0, ref]`` (hello).  Notifications: ``[1, ref, ...]`` answers a command --
the hello command with the text ``Hello``, a failed subscription with an HTTP
status written HIGH BYTE FIRST (``01 FB`` = 507, no free subscription slot);
a successful subscription gets no answer, its data simply start.
``[2, ref, u32 timestamp_ms, data]`` carries data; ``[3, ref, more]``
continues a data packet too long for one notification (its bytes are
appended to the previous one's).  IMU6 data: N acceleration vectors (3 x
float32, m/s^2) then N angular-rate vectors (3 x float32, deg/s); the
timestamp is the first sample's, in ms on the device clock (u32, wraps after
49.7 days).  Supported rates: 13, 26, 52, 104, 208, 416 Hz.
"""

from __future__ import annotations

import struct

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.devices.base import DeviceFamily, ImuSamples

SERVICE = "34802252-7185-4d5d-b431-630e7050e8f0"
WRITE = "34800001-7185-4d5d-b431-630e7050e8f0"
NOTIFY = "34800002-7185-4d5d-b431-630e7050e8f0"
RATES_HZ = (13, 26, 52, 104, 208, 416)
REF = 42  # our subscription's reference number
RESPONSE, DATA, DATA_PART2 = 1, 2, 3


class MovesenseDecoder:
    """Joins continuation packets; decodes IMU6 into samples with device time.

    A data packet is returned when the next one starts (or at :meth:`flush`),
    since a continuation may still follow it (``holds_back``).
    """

    holds_back = True

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self._pending: bytes | None = None
        self._last = b""  # the last data or continuation notification, to recognise a repeat
        self.duplicates = 0
        self._last_ms: int | None = None
        self._wraps = 0

    def decode(self, char_uuid: str, payload: bytes) -> list[ImuSamples]:
        if char_uuid.lower() != NOTIFY:
            raise ProtocolError(f"Movesense data comes on {NOTIFY}, not {char_uuid}", payload)
        payload = bytes(payload)
        if len(payload) < 2:
            raise ProtocolError("a Movesense notification shorter than its 2-byte header", payload)
        kind = payload[0]
        if kind == RESPONSE:
            check_response(payload)
            return []
        if payload == self._last:
            self.duplicates += 1  # the same notification twice: its bytes are already held
            return []
        if kind == DATA_PART2:
            if self._pending is None:
                raise ProtocolError("a continuation packet with no data packet before it", payload)
            self._pending += payload[2:]
            self._last = payload
            return []
        if kind != DATA:
            raise ProtocolError(f"unknown Movesense packet type {kind}", payload)
        out = self.flush()
        self._pending = self._last = payload
        return out

    def flush(self) -> list[ImuSamples]:
        """Decode the data packet held back (a continuation may have followed it)."""
        if self._pending is None:
            return []
        packet, self._pending = self._pending, None
        body = len(packet) - 6
        if body <= 0 or body % 24:
            raise ProtocolError(f"IMU6 data of {body} bytes is not a whole number of samples", packet)
        n = body // 24
        (ts_ms,) = struct.unpack_from("<I", packet, 2)
        with np.errstate(invalid="ignore"):  # a signalling NaN warns on the cast; it is refused just below
            values = np.frombuffer(packet, dtype="<f4", offset=6).astype(float)
        if not np.isfinite(values).all():
            raise ProtocolError("IMU6 data holds non-finite numbers", packet)
        if self._last_ms is not None and ts_ms < self._last_ms - 2**31:
            self._wraps += 1  # the u32 millisecond clock wrapped
        self._last_ms = ts_ms
        t0 = (ts_ms + self._wraps * 2**32) / 1000.0
        acc = values[: 3 * n].reshape(n, 3)
        gyr = np.radians(values[3 * n:].reshape(n, 3))
        return [ImuSamples("imu", acc, gyr, t0 + np.arange(n) / self.rate_hz, counter=ts_ms)]


STATUS_MEANING = {400: "bad request", 404: "no such resource (this firmware does not offer that path)",
                  503: "service unavailable", 507: "no free subscription slot (too many subscriptions)"}


def response_status(payload: bytes) -> int | None:
    """The HTTP status of a ``[1, ref, hi, lo]`` reply (high byte first), None for a text reply (Hello)."""
    if len(payload) < 3:
        raise ProtocolError("a Movesense response shorter than 3 bytes", payload)
    body = payload[2:]
    if len(body) == 2:
        return (body[0] << 8) | body[1]
    return None  # the hello reply: text, not a status


def check_response(payload: bytes) -> None:
    """Raise CommandRefused if a command reply carries a status that is not 2xx; a text reply is fine."""
    status = response_status(payload)
    if status is not None and not 200 <= status < 300:
        meaning = STATUS_MEANING.get(status, "refused")
        advice = ("switch the sensor off and on (it keeps subscriptions of earlier connections) and try again"
                  if status == 507 else "check that the sensor runs gatt_sensordata_app and offers "
                  f"/Meas/IMU6 at {'/'.join(map(str, RATES_HZ))} Hz")
        raise CommandRefused(f"the Movesense sensor refused the command: {meaning} (status {status}); {advice}",
                             payload)


class MovesenseEncoder:
    """Samples -> IMU6 notifications as the firmware sends them (8 samples a packet, split at 155 bytes)."""

    def __init__(self, rate_hz: float, samples_per_packet: int = 8, mtu_payload: int = 155, slots: int = 1):
        self.rate_hz, self.n, self.mtu = rate_hz, samples_per_packet, mtu_payload
        self.slots = slots  # free subscription slots (the firmware has MAX_DATASUB_COUNT)
        self.subscriptions: set[int] = set()

    def encode(self, acc_mps2, gyr_radps, device_time_s) -> list[tuple[str, bytes]]:
        out = []
        acc, gyr, t = np.asarray(acc_mps2), np.degrees(np.asarray(gyr_radps)), np.asarray(device_time_s)
        for i in range(0, len(t) - self.n + 1, self.n):
            ts = int(round(t[i] * 1000)) % 2**32
            body = acc[i:i + self.n].astype("<f4").tobytes() + gyr[i:i + self.n].astype("<f4").tobytes()
            packet = bytes([DATA, REF]) + struct.pack("<I", ts) + body
            out.append((NOTIFY, packet[: self.mtu]))
            for j in range(self.mtu, len(packet), self.mtu - 2):
                out.append((NOTIFY, bytes([DATA_PART2, REF]) + packet[j:j + self.mtu - 2]))
        return out

    def respond(self, char_uuid: str, written: bytes) -> list[tuple[str, bytes]]:
        """The firmware's answers: hello -> "Hello"; a subscription beyond the free slots -> 507; else silence."""
        if char_uuid.lower() != WRITE or len(written) < 2:
            return []
        cmd, ref = written[0], written[1]
        if cmd == 0:
            return [(NOTIFY, bytes([RESPONSE, ref]) + b"Hello")]
        if cmd == 1:
            if len(self.subscriptions) >= self.slots:
                return [(NOTIFY, bytes([RESPONSE, ref, 0x01, 0xFB]))]  # 507, high byte first
            self.subscriptions.add(ref)
        elif cmd == 2:
            self.subscriptions.discard(ref)
        return []


class Movesense(DeviceFamily):
    """Movesense with gatt_sensordata_app (IMU6: accelerometer + gyroscope)."""

    name = "movesense"
    service_uuid = SERVICE
    notify_uuids = (NOTIFY,)
    control_uuid = WRITE
    experimental = True  # replies checked against the firmware's bytes; IMU6 layout from its docs, no byte example

    @classmethod
    def matches(cls, name, service_uuids):
        return bool(name and name.startswith("Movesense")) or SERVICE in [u.lower() for u in service_uuids]

    @classmethod
    def rate(cls, rate_hz: float) -> int:
        """The nearest supported IMU6 rate."""
        return min(RATES_HZ, key=lambda r: abs(r - rate_hz))

    @classmethod
    def start_commands(cls, rate_hz):
        return [(WRITE, bytes([1, REF]) + f"/Meas/IMU6/{cls.rate(rate_hz)}".encode())]

    @classmethod
    def stop_commands(cls):
        return [(WRITE, bytes([2, REF]))]

    @classmethod
    def decoder(cls, rate_hz: float = 208.0):
        return MovesenseDecoder(cls.rate(rate_hz))

    @classmethod
    def encoder(cls, rate_hz, **options):
        return MovesenseEncoder(cls.rate(rate_hz), **options)
