"""Polar Measurement Data (PMD) service: Polar Verity Sense, H10 and OH1.

As Polar's open BLE SDK reads it (polarofficial/polar-ble-sdk: BlePMDClient.kt,
PmdDataFrame.kt, model/AccData.kt, model/GyrData.kt, model/PmdTimeStampUtils.kt,
PmdControlPointResponse.kt, PmdSetting.kt; technical_documentation/
online_measurement.pdf; documentation/SdkModeExplained.md and products/*.md).

Service FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8, control point ...5C81, data
...5C82.  A measurement starts with ``02 <type> {setting, 1, value LE}...``
(settings: 0 sample rate u16, 1 resolution u16, 2 range u16, 4 channels u8,
5 factor float32) and stops with ``03 <type>``; SDK mode (type 9) is started
and stopped the same way.  The sensor answers ``F0 <op> <type> <status>
<more> [settings]`` (status 0 = success; the start reply may carry the
conversion factor) and notifies ``01 <types...>`` when it stopped streams on
its own.  A data frame is ``[type][u64 ns since 2000-01-01 of the LAST
sample][frame type][content]``; frame type bit 7 = delta-compressed (a
reference sample, then blocks ``[bit width][count][count x channels deltas,
LSB first]``).  ACC and GYRO come in separate frames, each filled to the MTU on
its own.  Sample times follow the SDK: a frame's samples are spaced evenly
between the previous frame's last-sample time of the same stream and its own;
the first frame (and one after a lost frame) at the nominal rate.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.streaming.devices.base import DeviceFamily, ImuSamples

SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
ACC, GYRO, SDK_MODE = 2, 5, 9
OP_GET_SETTINGS, OP_START, OP_STOP, OP_GET_SDK_SETTINGS = 1, 2, 3, 4
RESPONSE, MEASUREMENT_STOPPED = 0xF0, 0x01
POLAR_EPOCH_S = 946_684_800.0  # 2000-01-01 in Unix seconds
MG_TO_MPS2 = GRAVITY_MPS2 / 1000.0
DEG_TO_RAD = np.pi / 180.0
SAMPLE_RATE, RESOLUTION, RANGE, RANGE_MILLIUNIT, CHANNELS, FACTOR, SECURITY = range(7)
SETTING_SIZES = {SAMPLE_RATE: 2, RESOLUTION: 2, RANGE: 2, RANGE_MILLIUNIT: 4, CHANNELS: 1, FACTOR: 4, SECURITY: 16}
ERRORS = {1: "invalid op code", 2: "invalid measurement type", 3: "not supported", 4: "invalid length",
          5: "invalid parameter", 6: "already in that state", 7: "invalid resolution", 8: "invalid sample rate",
          9: "invalid range", 10: "invalid MTU", 11: "invalid number of channels", 12: "invalid state",
          13: "device in charger", 14: "disk full"}
WHAT = {ACC: "accelerometer", GYRO: "gyroscope", SDK_MODE: "SDK mode"}
OPS = {OP_GET_SETTINGS: "report the settings of", OP_START: "start", OP_STOP: "stop",
       OP_GET_SDK_SETTINGS: "report the SDK-mode settings of"}
SPACING_TOLERANCE = 0.25  # a frame spaced further than this from the nominal period follows a lost frame


# --- settings and control-point replies (PmdSetting.kt, PmdControlPointResponse.kt) -------------------------

def parse_settings(params: bytes) -> dict[int, list[int]]:
    """``{setting type: [values]}`` from ``[type][count][count x value LE]...`` (factor: its float32 bits)."""
    out: dict[int, list[int]] = {}
    i = 0
    while i < len(params):
        if i + 2 > len(params):
            raise ProtocolError("a PMD setting cut off after its type", params)
        kind, count = params[i], params[i + 1]
        size = SETTING_SIZES.get(kind)
        if size is None:
            raise ProtocolError(f"unknown PMD setting type {kind}", params)
        end = i + 2 + size * count
        if end > len(params):
            raise ProtocolError(f"PMD setting {kind} is cut off", params)
        out[kind] = [int.from_bytes(params[j:j + size], "little", signed=True) for j in range(i + 2, end, size)]
        i = end
    return out


def settings_bytes(selected: dict[int, int]) -> bytes:
    """The start request's settings: ``[type][1][value LE]`` per selected setting (never the factor)."""
    return b"".join(bytes([k, 1]) + int(v).to_bytes(SETTING_SIZES[k], "little", signed=k == FACTOR)
                    for k, v in selected.items() if k != FACTOR)


def factor_of(settings: dict[int, list[int]]) -> float | None:
    """The float32 conversion factor a settings block carries, if any."""
    bits = settings.get(FACTOR)
    if not bits:
        return None
    (factor,) = struct.unpack("<f", struct.pack("<i", bits[0]))
    if not math.isfinite(factor) or factor <= 0:
        raise ProtocolError(f"a PMD conversion factor of {factor}")
    return factor


@dataclass(frozen=True)
class Reply:
    """A control-point reply ``F0 op type status more [parameters]``."""

    op: int
    mtype: int
    status: int
    more: bool
    params: bytes

    @classmethod
    def parse(cls, payload: bytes) -> Reply:
        if len(payload) < 4 or payload[0] != RESPONSE:
            raise ProtocolError("not a PMD control-point reply", payload)
        ok = payload[3] == 0
        return cls(payload[1], payload[2] & 0x3F, payload[3], ok and len(payload) > 4 and payload[4] != 0,
                   bytes(payload[5:]) if ok else b"")


# --- frames (BlePMDClient.parseDeltaFramesAll, AccData.kt, GyrData.kt) ---------------------------------------

def unpack_deltas(data: bytes, bit_width: int, count: int, channels: int = 3) -> np.ndarray:
    """(count, channels) signed deltas packed LSB-first."""
    n_bits = bit_width * count * channels
    need = (n_bits + 7) // 8
    if len(data) < need:
        raise ProtocolError("a delta block is shorter than its bit width and count say")
    if bit_width == 0:
        return np.zeros((count, channels), dtype=np.int64)  # the SDK reads zero-width deltas as 0
    bits = np.unpackbits(np.frombuffer(data[:need], dtype=np.uint8), bitorder="little")[:n_bits]
    values = bits.reshape(-1, bit_width).astype(np.int64) @ (1 << np.arange(bit_width, dtype=np.int64))
    values = np.where(values >= (1 << (bit_width - 1)), values - (1 << bit_width), values)
    return values.reshape(count, channels)


def pack_deltas(deltas: np.ndarray, bit_width: int) -> bytes:
    """The inverse of :func:`unpack_deltas`."""
    v = np.asarray(deltas, dtype=np.int64).ravel() & ((1 << bit_width) - 1)
    bits = ((v[:, None] >> np.arange(bit_width)) & 1).astype(np.uint8).ravel()
    return np.packbits(bits, bitorder="little").tobytes()


def parse_delta_frames(body: bytes, resolution_bits: int, as_float: bool = False, channels: int = 3) -> np.ndarray:
    """(n, channels) samples of a delta-compressed frame: the reference sample, then each block's deltas summed.

    ``as_float``: the samples are float32 bit patterns (GYRO frame type 1); the
    sums wrap at 32 bits as the SDK's Int arithmetic does, and the result is the
    floats those bits spell.
    """
    size = math.ceil(resolution_bits / 8)
    if len(body) < channels * size:
        raise ProtocolError("a delta PMD frame without its whole reference sample", body)
    ref = [int.from_bytes(body[i * size:(i + 1) * size], "little", signed=not as_float) for i in range(channels)]
    blocks, prev, offset = [np.array([ref], dtype=np.int64)], np.array(ref, dtype=np.int64), channels * size
    while offset < len(body):
        if offset + 2 > len(body):
            raise ProtocolError("a delta block header is cut off", body)
        width, count = body[offset], body[offset + 1]
        if width > 32:
            raise ProtocolError(f"a delta block of bit width {width}", body)
        offset += 2
        if count:
            block = prev + np.cumsum(unpack_deltas(body[offset:], width, count, channels), axis=0)
            blocks.append(block)
            prev = block[-1]
        offset += math.ceil(width * count * channels / 8)
    out = np.vstack(blocks)
    if as_float:
        return (out & 0xFFFFFFFF).astype(np.uint32).view(np.float32).astype(float)
    return out


def parse_raw(body: bytes, size: int, channels: int = 3) -> np.ndarray:
    """(n, channels) signed little-endian samples of ``size`` bytes each."""
    if len(body) == 0 or len(body) % (channels * size):
        raise ProtocolError("a raw PMD frame is not a whole number of samples", body)
    raw = np.frombuffer(body, dtype=np.uint8).reshape(-1, size).astype(np.int64)
    vals = (raw << (8 * np.arange(size))).sum(axis=1)
    bits = 8 * size
    return np.where(vals >= (1 << (bits - 1)), vals - (1 << bits), vals).reshape(-1, channels)


def frame_values(mtype: int, frame_type: int, body: bytes, factor: float) -> np.ndarray:
    """A frame's samples in the SDK's units: ACC milli-g, GYRO deg/s.

    ACC raw 0/1/2: 8/16/24-bit milli-g; ACC compressed 0: 16-bit g x factor
    (x 1000); ACC compressed 1: 16-bit milli-g x factor; GYRO compressed 0:
    16-bit x factor; GYRO compressed 1: float32 x factor (AccData.kt, GyrData.kt).
    """
    compressed, ftype = bool(frame_type & 0x80), frame_type & 0x7F
    if mtype == ACC and not compressed and ftype in (0, 1, 2):
        return parse_raw(body, ftype + 1).astype(float)
    if mtype == ACC and compressed and ftype == 0:
        return parse_delta_frames(body, 16) * factor * 1000.0
    if mtype == ACC and compressed and ftype == 1:
        return parse_delta_frames(body, 16) * factor
    if mtype == GYRO and compressed and ftype == 0:
        return parse_delta_frames(body, 16) * factor
    if mtype == GYRO and compressed and ftype == 1:
        return parse_delta_frames(body, 32, as_float=True) * factor
    raise ProtocolError(f"PMD {WHAT.get(mtype, f'type {mtype}')} frame type 0x{frame_type:02x} is not one "
                        "Polar's SDK reads", body)


def sample_times_ns(prev_ns: int, ts_ns: int, n: int, rate_hz: float) -> np.ndarray:
    """Each sample's time, ns (PmdTimeStampUtils.getTimeStamps): the last is the frame's own timestamp.

    With a previous timestamp of the same stream the samples are spread evenly
    after it; without one (``prev_ns`` 0) they go back from ``ts_ns`` at the nominal rate.
    """
    if n <= 0:
        raise ProtocolError("a PMD frame without samples")
    if prev_ns == 0 and rate_hz <= 0:
        raise ProtocolError("PMD sample times need a previous frame or a sample rate")
    if prev_ns:
        if ts_ns <= prev_ns:
            raise ProtocolError("a PMD frame timestamp not after the previous one")
        delta = (ts_ns - prev_ns) / n
        start = prev_ns + delta
    else:
        delta = 1e9 / rate_hz
        start = ts_ns - delta * (n - 1)
    if start < 0:
        raise ProtocolError("PMD sample times before the year 2000")
    t = np.round(start + delta * np.arange(n))
    t[-1] = ts_ns
    return t


# --- models (documentation/products/*.md) -----------------------------------------------------------------

@dataclass(frozen=True)
class PolarModel:
    """What one Polar model streams: rates outside and inside SDK mode, and whether it has a gyroscope."""

    name: str
    prefix: str  # advertised name: prefix + device ID
    rates_hz: tuple[int, ...]
    has_gyro: bool
    sdk_rates_hz: tuple[int, ...] = ()
    acc_range_g: int = 8
    gyro_range_dps: int = 2000

    def choose(self, rate_hz: float) -> tuple[int, bool]:
        """(the offered rate nearest ``rate_hz``, whether it needs SDK mode); ties go to the higher rate."""
        offered = sorted(set(self.rates_hz) | set(self.sdk_rates_hz))
        rate = min(offered, key=lambda r: (abs(r - rate_hz), -r))
        return rate, rate not in self.rates_hz

    def offers(self) -> str:
        sensors = "accelerometer + gyroscope" if self.has_gyro else "accelerometer only"
        text = f"{self.name}: {sensors}, {'/'.join(map(str, self.rates_hz))} Hz"
        if self.sdk_rates_hz:
            text += f" ({'/'.join(map(str, self.sdk_rates_hz))} Hz in SDK mode)"
        return text


VERITY_SENSE = PolarModel("Polar Verity Sense", "Polar Sense", (52,), True, (26, 52, 104, 208, 416))
H10 = PolarModel("Polar H10", "Polar H10", (25, 50, 100, 200), False)
OH1 = PolarModel("Polar OH1", "Polar OH1", (50,), False)
UNKNOWN = PolarModel("an unrecognised Polar sensor", "Polar", (52,), True, (26, 52, 104, 208, 416))
MODELS = (VERITY_SENSE, H10, OH1)


def refusal(model: PolarModel, reply: Reply, offered: dict[int, dict[int, list[int]]] | None = None) -> str:
    """What a refusal means and what to try, in one line.

    ``offered``: the settings the sensor itself reported (replies to settings
    queries), quoted when present.
    """
    what = WHAT.get(reply.mtype, f"measurement type {reply.mtype}")
    text = (f"the {model.name} refused to {OPS.get(reply.op, f'do op {reply.op} on')} the {what}: "
            f"{ERRORS.get(reply.status, 'unknown error')} (error {reply.status}); ")
    own = (offered or {}).get(reply.mtype, {}).get(SAMPLE_RATE)
    if own:
        text += f"the sensor reports {what} rates {'/'.join(map(str, sorted(own)))} Hz; "
    if model is UNKNOWN:
        text += f"it is not a model stridesense knows ({', '.join(m.name for m in MODELS)}); "
    s = reply.status
    if s == 8 and model.sdk_rates_hz:
        advice = (f"it streams {'/'.join(map(str, model.rates_hz))} Hz outside SDK mode and "
                  f"{'/'.join(map(str, model.sdk_rates_hz))} Hz in SDK mode (Verity Sense firmware 1.1.5 or "
                  f"later): update its firmware in Polar Flow, or record with --rate-hz {model.rates_hz[-1]}")
    elif s in (7, 8, 9, 11):
        advice = f"it offers {model.offers()}; record with --rate-hz {model.rates_hz[-1]}"
    elif s == 3 and reply.mtype == SDK_MODE:
        advice = ("this firmware has no SDK mode (Verity Sense: firmware 1.1.5 or later): update it in Polar Flow, "
                  f"or record with --rate-hz {model.rates_hz[-1]}")
    elif s in (2, 3):
        advice = f"this sensor does not offer it ({model.offers()})"
    elif s in (6, 12):
        advice = ("a measurement is already running on the sensor (another app connected to it?): close other "
                  "apps, switch the sensor off and on, and try again")
    elif s == 13:
        advice = "take the sensor off its charger"
    elif s == 10:
        advice = "the Bluetooth link's packets are too small for this stream: reconnect, or try a lower --rate-hz"
    else:
        advice = "switch the sensor off and on and try again; if it persists, update its firmware in Polar Flow"
    return text + advice


# --- the decoder ----------------------------------------------------------------------------------------

class PolarDecoder:
    """Control-point replies and ACC/GYRO frames -> samples with the SDK's sample times.

    Attributes
    ----------
    factors
        Conversion factor per measurement type, from the start replies (1.0 until one comes).
    stopped
        Measurement types the sensor reported stopped (``01 <types>``): the stream ended.
    offered
        Settings the sensor reported per measurement type (replies to a settings query).
    duplicates
        Frames not after the previous frame of their stream (repeated or out of order), ignored.
    """

    def __init__(self, model: PolarModel, rate_hz: float):
        self.model = model
        self.rate_hz = float(rate_hz)
        self.rates_hz = {ACC: self.rate_hz, GYRO: self.rate_hz}
        self.factors = {ACC: 1.0, GYRO: 1.0}
        self.stopped: list[int] = []
        self.offered: dict[int, dict[int, list[int]]] = {}
        self.duplicates = 0
        self._prev_ns: dict[tuple[int, int], int] = {}

    def decode(self, char_uuid: str, payload: bytes) -> list[ImuSamples]:
        payload = bytes(payload)
        char = char_uuid.lower()
        if char == CONTROL:
            self._control(payload)
            return []
        if char != DATA:
            raise ProtocolError(f"Polar PMD data comes on {DATA}, not {char_uuid}", payload)
        if len(payload) < 11:
            raise ProtocolError("a PMD frame shorter than its 10-byte header and one byte", payload)
        mtype, ts_ns, ftype = payload[0] & 0x3F, struct.unpack_from("<Q", payload, 1)[0], payload[9]
        if mtype not in (ACC, GYRO):
            raise ProtocolError(f"PMD measurement type {mtype} was not asked for", payload)
        values = frame_values(mtype, ftype, payload[10:], self.factors[mtype])
        if not np.isfinite(values).all():
            raise ProtocolError("a PMD frame holds non-finite numbers", payload)
        key = (mtype, ftype & 0x7F)
        prev = self._prev_ns.get(key, 0)
        if prev and ts_ns <= prev:
            self.duplicates += 1  # the same frame again, or an older one: its samples are already out
            return []
        n = values.shape[0]
        period_ns = 1e9 / self.rates_hz[mtype]
        if prev and abs((ts_ns - prev) / n / period_ns - 1.0) > SPACING_TOLERANCE:
            prev = 0  # a frame was lost in between: spreading over the hole would hide it, so nominal rate
        t_ns = sample_times_ns(prev, ts_ns, n, self.rates_hz[mtype])
        self._prev_ns[key] = ts_ns
        t = POLAR_EPOCH_S + t_ns * 1e-9
        if mtype == ACC:
            return [ImuSamples("acc", values * MG_TO_MPS2, None, t, counter=ts_ns)]
        return [ImuSamples("gyr", None, values * DEG_TO_RAD, t, counter=ts_ns)]

    def _control(self, payload: bytes) -> None:
        if payload[:1] == bytes([MEASUREMENT_STOPPED]):
            self.stopped += [t & 0x3F for t in payload[1:]]  # not an error: the sensor ended these streams
            return
        reply = Reply.parse(payload)
        if reply.status:
            if reply.op in (OP_STOP, OP_GET_SETTINGS, OP_GET_SDK_SETTINGS) or (
                    reply.op == OP_START and reply.mtype == SDK_MODE and reply.status == 6):
                return  # stopping what does not run, a query it cannot answer, SDK mode already on: no harm
            raise CommandRefused(refusal(self.model, reply, self.offered), payload)
        if reply.op in (OP_GET_SETTINGS, OP_GET_SDK_SETTINGS):
            try:
                self.offered[reply.mtype] = parse_settings(reply.params)
            except ProtocolError as e:
                raise ProtocolError(f"a settings reply: {e}", payload) from None
        elif reply.op == OP_START and reply.mtype in (ACC, GYRO):
            try:
                factor = factor_of(parse_settings(reply.params))
            except ProtocolError as e:
                raise ProtocolError(f"a start reply's settings: {e}", payload) from None
            if factor is not None:
                self.factors[reply.mtype] = factor
            self._prev_ns = {k: v for k, v in self._prev_ns.items() if k[0] != reply.mtype}  # a fresh stream


# --- the family and its models ------------------------------------------------------------------------

class PolarPmd(DeviceFamily):
    """Polar sensors with the PMD service; this class is the Verity Sense, subclasses the other models."""

    name = "polar"
    service_uuid = SERVICE
    notify_uuids = (CONTROL, DATA)
    control_uuid = CONTROL
    experimental = True  # frames checked against Polar's SDK test vectors; not yet against a sensor
    model = VERITY_SENSE
    has_gyro = True

    @classmethod
    def matches(cls, name, service_uuids):
        return bool(name and name.startswith("Polar")) or SERVICE in [u.lower() for u in service_uuids]

    @classmethod
    def for_advert(cls, name: str | None) -> type[PolarPmd]:
        """The model class an advertised name belongs to (an unknown Polar is tried as a Verity Sense)."""
        for model_cls in (PolarPmd, PolarH10, PolarOH1):
            if name and name.startswith(model_cls.model.prefix + " "):
                return model_cls
        return PolarOther

    @classmethod
    def rate(cls, rate_hz: float) -> int:
        """The sensor's offered rate nearest the wanted one."""
        return cls.model.choose(rate_hz)[0]

    @classmethod
    def describe(cls, rate_hz: float) -> str:
        """What will be streamed for a wanted rate, and what the model offers."""
        rate, sdk = cls.model.choose(rate_hz)
        sensors = "accelerometer + gyroscope" if cls.model.has_gyro else "accelerometer only (no gyroscope)"
        text = f"{cls.model.name}: {sensors} at {rate} Hz" + (" in SDK mode" if sdk else "")
        if rate != rate_hz:
            text += f" (asked {rate_hz:g} Hz; it offers {cls.model.offers().split(': ', 1)[1]})"
        return text

    @classmethod
    def start_commands(cls, rate_hz):
        """Ask what the sensor offers (its replies are quoted if it refuses), SDK mode if needed, then start."""
        rate, sdk = cls.model.choose(rate_hz)
        types = (ACC, GYRO) if cls.model.has_gyro else (ACC,)
        out = [(CONTROL, bytes([OP_GET_SETTINGS, t])) for t in types]
        if sdk:
            out.append((CONTROL, bytes([OP_START, SDK_MODE])))
        out.append((CONTROL, bytes([OP_START, ACC]) + settings_bytes(
            {SAMPLE_RATE: rate, RESOLUTION: 16, RANGE: cls.model.acc_range_g})))
        if cls.model.has_gyro:
            out.append((CONTROL, bytes([OP_START, GYRO]) + settings_bytes(
                {SAMPLE_RATE: rate, RESOLUTION: 16, RANGE: cls.model.gyro_range_dps})))
        return out

    @classmethod
    def stop_commands(cls):
        out = [(CONTROL, bytes([OP_STOP, ACC]))]
        if cls.model.has_gyro:
            out.append((CONTROL, bytes([OP_STOP, GYRO])))
        if cls.model.sdk_rates_hz:
            out.append((CONTROL, bytes([OP_STOP, SDK_MODE])))  # back to normal mode (heart rate on again)
        return out

    @classmethod
    def decoder(cls, rate_hz: float = 208.0):
        return PolarDecoder(cls.model, cls.rate(rate_hz))

    @classmethod
    def encoder(cls, rate_hz, **options):
        """A simulated sensor of this model; ``options`` as :class:`~.polar_sim.SimulatedPolar` takes them."""
        from stridesense.streaming.devices.polar_sim import SimulatedPolar

        return SimulatedPolar(cls.model, cls.rate(rate_hz), **options)


class PolarH10(PolarPmd):
    """Polar H10: accelerometer only, 25/50/100/200 Hz."""

    model = H10
    has_gyro = False


class PolarOH1(PolarPmd):
    """Polar OH1: accelerometer only, 50 Hz."""

    model = OH1
    has_gyro = False


class PolarOther(PolarPmd):
    """A Polar sensor of a model not known here: tried as a Verity Sense; a refusal says what it offers."""

    model = UNKNOWN
