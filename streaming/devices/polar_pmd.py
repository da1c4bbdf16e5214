"""Polar Measurement Data (PMD) service: Polar Verity Sense, H10 and similar.

From Polar's measurement data specification and its open BLE SDK: service
FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8, control point ...5C81, data ...5C82.
Start a measurement by writing ``02 <type> {setting id, 1, u16 LE value}...``
to the control point (ACC = 2, GYRO = 5; settings 0 = sample rate, 1 =
resolution, 2 = range; ``03 <type>`` stops).  The sensor answers on the
control point ``F0 02 <type> <status> ...`` (status 0 = success).
A data notification is ``[type][u64 timestamp][frame type][data]``: the
timestamp, in ns since 2000-01-01, is that of the LAST sample of the frame.
Frame type bit 7 set = delta-compressed: a reference sample (3 channels at
the resolution's bytes, signed), then blocks ``[bit width][count][count x 3
signed deltas packed LSB-first]``, each sample the previous plus its delta.
Raw frames hold 8/16/24-bit signed samples (frame type 0/1/2).  ACC is in
milli-g, GYRO in deg/s, each times a float32 factor from the settings (1.0
unless the sensor sends one).
"""

from __future__ import annotations

import struct

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.streaming.devices.base import DeviceFamily, ImuSamples

SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
ACC, GYRO = 2, 5
POLAR_EPOCH_S = 946_684_800.0  # 2000-01-01 in Unix seconds
UNIT = {ACC: GRAVITY_MPS2 / 1000.0, GYRO: np.pi / 180.0}  # mG -> m/s^2, deg/s -> rad/s


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def unpack_deltas(data: bytes, bit_width: int, count: int, channels: int = 3) -> np.ndarray:
    """(count, channels) signed deltas packed LSB-first."""
    n_bits = bit_width * count * channels
    need = (n_bits + 7) // 8
    if len(data) < need:
        raise ProtocolError("a delta block is shorter than its bit width and count say")
    bits = np.unpackbits(np.frombuffer(data[:need], dtype=np.uint8), bitorder="little")[:n_bits]
    values = bits.reshape(-1, bit_width) @ (1 << np.arange(bit_width, dtype=np.int64))
    values = np.where(values >= (1 << (bit_width - 1)), values - (1 << bit_width), values)
    return values.reshape(count, channels)


def pack_deltas(deltas: np.ndarray, bit_width: int) -> bytes:
    """The inverse of :func:`unpack_deltas`."""
    v = deltas.astype(np.int64).ravel() & ((1 << bit_width) - 1)
    bits = ((v[:, None] >> np.arange(bit_width)) & 1).astype(np.uint8).ravel()
    return np.packbits(bits, bitorder="little").tobytes()


class PolarDecoder:
    """Decodes PMD ACC and GYRO frames; the sample rate per type comes from the start settings."""

    def __init__(self, rates_hz: dict[int, float], factors: dict[int, float] | None = None):
        self.rates_hz = rates_hz
        self.rate_hz = rates_hz.get(ACC)  # both streams are started at the same rate
        self.factors = {ACC: 1.0, GYRO: 1.0, **(factors or {})}

    def decode(self, char_uuid: str, payload: bytes) -> list[ImuSamples]:
        payload = bytes(payload)
        if char_uuid.lower() == CONTROL:
            check_response(payload)
            if payload[1] == 0x02 and payload[2] in (ACC, GYRO):
                factor = start_response_factor(payload)
                if factor is not None:
                    self.factors[payload[2]] = factor
            return []
        if char_uuid.lower() != DATA:
            raise ProtocolError(f"Polar PMD data comes on {DATA}, not {char_uuid}", payload)
        if len(payload) < 10:
            raise ProtocolError("a PMD frame shorter than its 10-byte header", payload)
        mtype, ts_ns, ftype = payload[0], struct.unpack_from("<Q", payload, 1)[0], payload[9]
        if mtype not in (ACC, GYRO):
            raise ProtocolError(f"unknown PMD measurement type {mtype}", payload)
        res_bytes = {0: 1, 1: 2, 2: 3}.get(ftype & 0x7F)
        if res_bytes is None:
            raise ProtocolError(f"unknown PMD frame type 0x{ftype:02x}", payload)
        body = payload[10:]
        if ftype & 0x80:
            samples = self._delta(body, res_bytes, payload)
        else:
            if len(body) == 0 or len(body) % (3 * res_bytes):
                raise ProtocolError("a raw PMD frame is not a whole number of samples", payload)
            raw = np.frombuffer(body, dtype=np.uint8).reshape(-1, res_bytes)
            vals = (raw.astype(np.int64) << (8 * np.arange(res_bytes))).sum(axis=1)
            bits = 8 * res_bytes
            samples = np.where(vals >= (1 << (bits - 1)), vals - (1 << bits), vals).reshape(-1, 3)
        rate = self.rates_hz.get(mtype)
        if not rate:
            raise ProtocolError(f"PMD data of type {mtype} arrived before its stream was started", payload)
        n = samples.shape[0]
        t_last = POLAR_EPOCH_S + ts_ns * 1e-9
        t = t_last - (n - 1 - np.arange(n)) / rate
        si = samples * self.factors[mtype] * UNIT[mtype]
        if mtype == ACC:
            return [ImuSamples("acc", si, None, t, counter=ts_ns)]
        return [ImuSamples("gyr", None, si, t, counter=ts_ns)]

    @staticmethod
    def _delta(body: bytes, res_bytes: int, payload: bytes) -> np.ndarray:
        if len(body) < 3 * res_bytes:
            raise ProtocolError("a delta PMD frame without its reference sample", payload)
        ref = [_signed(int.from_bytes(body[i * res_bytes:(i + 1) * res_bytes], "little"), 8 * res_bytes)
               for i in range(3)]
        prev = np.array(ref, dtype=np.int64)
        blocks = [prev[None, :]]
        offset = 3 * res_bytes
        while offset < len(body):
            if offset + 2 > len(body):
                raise ProtocolError("a delta block header is cut off", payload)
            width, count = body[offset], body[offset + 1]
            if not 1 <= width <= 32 or count == 0:
                raise ProtocolError(f"a delta block of bit width {width} and {count} samples", payload)
            block = prev[None, :] + np.cumsum(unpack_deltas(body[offset + 2:], width, count), axis=0)
            blocks.append(block)
            prev = block[-1]
            offset += 2 + (width * count * 3 + 7) // 8
        return np.vstack(blocks)


SETTING_SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}  # PMD setting type -> bytes per value
FACTOR_SETTING = 5


def start_response_factor(payload: bytes) -> float | None:
    """The float32 conversion factor a start reply ``F0 02 type status more [settings]`` carries, if any.

    Settings are ``[type][count][count x value]``; the factor (type 5) is a
    little-endian float32 that multiplies every raw sample of the stream.
    """
    params, i = payload[5:], 0
    while i + 2 <= len(params):
        kind, count = params[i], params[i + 1]
        size = SETTING_SIZES.get(kind)
        if size is None or i + 2 + size * count > len(params):
            return None  # an unknown or cut-off setting: nothing after it can be read
        if kind == FACTOR_SETTING and count >= 1:
            (factor,) = struct.unpack_from("<f", params, i + 2)
            if not np.isfinite(factor) or factor <= 0:
                raise ProtocolError(f"a PMD conversion factor of {factor}", payload)
            return float(factor)
        i += 2 + size * count
    return None


def check_response(payload: bytes) -> None:
    """Raise ProtocolError unless a control-point reply ``F0 op type status`` says success."""
    if len(payload) < 4 or payload[0] != 0xF0:
        raise ProtocolError("not a PMD control-point response", payload)
    if payload[3] != 0:
        raise CommandRefused(f"the Polar sensor refused the request (op {payload[1]}, type {payload[2]}, "
                            f"error {payload[3]})", payload)


class PolarEncoder:
    """Samples -> delta-compressed 16-bit PMD frames, as a Verity Sense sends them.

    The gyroscope is sent in units of GYRO_FACTOR deg/s, announced in the
    start reply; each frame's delta bit width is the smallest that holds its
    deltas, so the compression is lossless.
    """

    GYRO_FACTOR = 2000.0 / 32768.0

    def __init__(self, rate_hz: float, samples_per_frame: int = 36):
        self.rate_hz, self.n = rate_hz, samples_per_frame

    def frame(self, mtype: int, values: np.ndarray, t_last_s: float) -> bytes:
        ints = np.clip(np.round(values), -32768, 32767).astype(np.int64)
        ref = b"".join(int(v).to_bytes(2, "little", signed=True) for v in ints[0])
        deltas = np.diff(ints, axis=0)
        ts_ns = int(round((t_last_s - POLAR_EPOCH_S) * 1e9))
        width = max(2, int(np.abs(deltas).max(initial=0)).bit_length() + 1)
        body = ref + bytes([width, len(deltas)]) + pack_deltas(deltas, width) if len(deltas) else ref
        return bytes([mtype]) + struct.pack("<Q", ts_ns) + bytes([0x81]) + body

    def encode(self, acc_mps2, gyr_radps, device_time_s) -> list[tuple[str, bytes]]:
        out = []
        acc = np.asarray(acc_mps2) / UNIT[ACC]
        gyr = np.asarray(gyr_radps) / UNIT[GYRO] / self.GYRO_FACTOR
        t = np.asarray(device_time_s)
        for i in range(0, len(t) - self.n + 1, self.n):
            sl = slice(i, i + self.n)
            out.append((DATA, self.frame(ACC, acc[sl], t[i + self.n - 1])))
            out.append((DATA, self.frame(GYRO, gyr[sl], t[i + self.n - 1])))
        return out

    def respond(self, char_uuid: str, written: bytes) -> list[tuple[str, bytes]]:
        if char_uuid.lower() != CONTROL or len(written) < 2:
            return []
        ok = written[0] in (1, 2, 3) and written[1] in (ACC, GYRO)
        reply = bytes([0xF0, written[0], written[1], 0 if ok else 1, 0])
        if ok and written[0] == 2:
            factor = 1.0 if written[1] == ACC else self.GYRO_FACTOR
            reply += bytes([FACTOR_SETTING, 1]) + struct.pack("<f", factor)
        return [(CONTROL, reply)]


class PolarPmd(DeviceFamily):
    """Polar sensors with the PMD service (ACC + GYRO streams)."""

    name = "polar"
    service_uuid = SERVICE
    notify_uuids = (CONTROL, DATA)
    control_uuid = CONTROL
    experimental = True  # from Polar's specification and SDK; no recorded frame checked byte for byte

    @classmethod
    def matches(cls, name, service_uuids):
        return bool(name and name.startswith("Polar")) or SERVICE in [u.lower() for u in service_uuids]

    @classmethod
    def rate(cls, rate_hz: float) -> int:
        """The sensor's rate for a wanted one: 52, 104 or 208 Hz."""
        return 208 if rate_hz > 104 else 104 if rate_hz > 52 else 52

    @classmethod
    def start_commands(cls, rate_hz):
        rate = cls.rate(rate_hz)
        acc = bytes([0x02, ACC, 0x00, 0x01]) + struct.pack("<H", rate) + bytes([0x01, 0x01, 16, 0, 0x02, 0x01, 8, 0])
        gyr = bytes([0x02, GYRO, 0x00, 0x01]) + struct.pack("<H", rate) + bytes([0x01, 0x01, 16, 0, 0x02, 0x01]) \
            + struct.pack("<H", 2000)
        return [(CONTROL, acc), (CONTROL, gyr)]

    @classmethod
    def stop_commands(cls):
        return [(CONTROL, bytes([0x03, ACC])), (CONTROL, bytes([0x03, GYRO]))]

    @classmethod
    def decoder(cls, rate_hz: float = 208.0):
        rate = cls.rate(rate_hz)
        return PolarDecoder({ACC: rate, GYRO: rate})

    @classmethod
    def encoder(cls, rate_hz):
        return PolarEncoder(rate_hz)
