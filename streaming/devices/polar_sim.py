"""A simulated Polar PMD sensor: control-point answers, SDK mode, refusals and MTU-filled frames.

It behaves as Polar's SDK sources and documentation describe a sensor (see
polar_pmd.py): a start outside the model's rates is refused with error 8
(104/208 Hz on a Verity Sense need SDK mode first), a measurement the model
has not is refused with error 3, and each stream's frames are filled up to
the link's MTU on their own, so ACC and GYRO frames differ in length and in
last-sample time.  Its frames are checked against Polar's own test vectors
(tests/streaming/test_devices_polar.py), independently of the decoder.
"""

from __future__ import annotations

import struct

import numpy as np

from stridesense.streaming.devices.polar_pmd import (
    ACC, CONTROL, DATA, DEG_TO_RAD, FACTOR, GYRO, MG_TO_MPS2, OP_GET_SETTINGS, OP_START, OP_STOP, POLAR_EPOCH_S,
    RANGE, RESOLUTION, RESPONSE, SAMPLE_RATE, SDK_MODE, PolarModel, pack_deltas, parse_settings, settings_bytes,
)

ATT_MTU = 247  # what BlueZ and a Verity Sense agree on; a notification carries MTU - 3 bytes


def delta_frame(ints: np.ndarray, ref_size: int, width: int | None = None) -> bytes:
    """A delta-compressed frame body: the reference sample, then one block of all the deltas.

    ``ints`` (n, 3) integers (or float32 bit patterns as int32); ``width``
    defaults to the smallest bit width that holds every delta.
    """
    ints = np.asarray(ints, dtype=np.int64)
    body = b"".join(int(v).to_bytes(ref_size, "little", signed=ref_size < 4) if ref_size < 4
                    else (int(v) & 0xFFFFFFFF).to_bytes(4, "little") for v in ints[0])
    if len(ints) < 2:
        return body
    deltas = np.diff(ints, axis=0)
    if ref_size == 4:
        deltas = (deltas + 2**31) % 2**32 - 2**31  # 32-bit wrap-around, as the SDK sums them
    if width is None:
        width = max(1, int(np.abs(deltas).max()).bit_length() + 1)
    return body + bytes([width, len(deltas)]) + pack_deltas(deltas, width)


def frame(mtype: int, frame_type: int, ts_ns: int, body: bytes) -> bytes:
    """``[type][u64 ns since 2000-01-01 of the last sample][frame type][body]``."""
    return bytes([mtype]) + struct.pack("<Q", ts_ns) + bytes([frame_type]) + body


class SimulatedPolar:
    """One Polar sensor of ``model``, streaming at ``rate_hz`` once started.

    Parameters
    ----------
    model
        What the sensor offers.
    rate_hz
        The rate its frames are made at (the simulator's data rate).
    sdk_mode_firmware
        False: a firmware without SDK mode (Verity Sense before 1.1.5).
    acc_frame, gyro_frame
        Frame types sent: ACC 0x81 (16-bit milli-g) or 0x80 (16-bit g x factor,
        older firmware); GYRO 0x80 (16-bit x factor) or 0x81 (float32).
    mtu
        ATT MTU of the link; frames fill MTU - 3 bytes.
    """

    ACC_FACTOR_G = 2.44e-4  # g per count of ACC frame type 0x80 (the value in Polar's AccDataTest)
    GYRO_FACTOR = 2000.0 / 32768.0  # deg/s per count of GYRO frame type 0x80

    def __init__(self, model: PolarModel, rate_hz: float, *, sdk_mode_firmware: bool = True,
                 acc_frame: int = 0x81, gyro_frame: int = 0x80, mtu: int = ATT_MTU):
        self.model, self.rate_hz = model, float(rate_hz)
        self.sdk_firmware = sdk_mode_firmware and bool(model.sdk_rates_hz)
        self.acc_frame, self.gyro_frame = acc_frame, gyro_frame
        self.limit = mtu - 3
        self.n = 4  # samples handed over at a time by whoever plays the stream
        self.sdk_mode = False
        self.started: set[int] = set()
        self._pending = {ACC: [], GYRO: []}  # (time, values) not yet in a frame

    # -- control point --------------------------------------------------------------------------------
    def respond(self, char_uuid: str, written: bytes) -> list[tuple[str, bytes]]:
        if char_uuid.lower() != CONTROL or len(written) < 2:
            return []
        op, mtype = written[0], written[1] & 0x3F
        status, params = 0, b""
        offered = self.model.sdk_rates_hz if self.sdk_mode else self.model.rates_hz
        exists = mtype == ACC or (mtype == GYRO and self.model.has_gyro)
        if op == OP_START and mtype == SDK_MODE:
            status = 3 if not self.sdk_firmware else 12 if self.started else 0
            self.sdk_mode = self.sdk_mode or status == 0
        elif op == OP_STOP and mtype == SDK_MODE:
            status = 12 if self.started else 0
            self.sdk_mode = self.sdk_mode and status != 0
        elif op == OP_START:
            try:
                rate = parse_settings(written[2:]).get(SAMPLE_RATE, [0])[0]
            except Exception:  # noqa: BLE001 - any malformed request is an invalid parameter
                rate = None
            status = 3 if not exists else 5 if rate is None else 8 if rate not in offered else \
                6 if mtype in self.started else 0
            if status == 0:
                self.started.add(mtype)
                self._pending[mtype] = []
                factor = self.ACC_FACTOR_G if (mtype == ACC and self.acc_frame == 0x80) else \
                    self.GYRO_FACTOR if (mtype == GYRO and self.gyro_frame == 0x80) else 1.0
                params = bytes([FACTOR, 1]) + struct.pack("<f", factor)
        elif op == OP_STOP:
            status = 0 if mtype in self.started else 6
            self.started.discard(mtype)
        elif op == OP_GET_SETTINGS:
            status = 0 if exists else 3
            if exists:
                rng = self.model.acc_range_g if mtype == ACC else self.model.gyro_range_dps
                params = b"".join(bytes([k, len(v)]) + b"".join(int(x).to_bytes(2, "little") for x in v)
                                  for k, v in ((SAMPLE_RATE, offered), (RESOLUTION, (16,)), (RANGE, (rng,))))
        else:
            status = 1
        return [(CONTROL, bytes([RESPONSE, op, mtype, status, 0]) + params)]

    @staticmethod
    def stopped_notification(*mtypes: int) -> bytes:
        """What the sensor sends when it ends streams on its own."""
        return bytes([0x01, *mtypes])

    # -- data -----------------------------------------------------------------------------------------
    def _ints(self, mtype: int, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Samples as the frame's integers and the reference sample's byte size."""
        if mtype == ACC:
            mg = np.asarray(values) / MG_TO_MPS2
            scale = 1000.0 * self.ACC_FACTOR_G if self.acc_frame == 0x80 else 1.0
            return np.clip(np.round(mg / scale), -32768, 32767).astype(np.int64), 2
        dps = np.asarray(values) / DEG_TO_RAD
        if self.gyro_frame == 0x81:
            return dps.astype(np.float32).view(np.int32).astype(np.int64), 4
        return np.clip(np.round(dps / self.GYRO_FACTOR), -32768, 32767).astype(np.int64), 2

    def _frames(self, mtype: int) -> list[tuple[str, bytes]]:
        """Frames of every run of pending samples that fills the MTU (the next sample would not fit)."""
        out, pending = [], self._pending[mtype]
        ftype = self.acc_frame if mtype == ACC else self.gyro_frame
        while len(pending) > 1:
            t = np.array([p[0] for p in pending])
            ints, size = self._ints(mtype, np.array([p[1] for p in pending]))
            deltas = np.diff(ints, axis=0)
            if size == 4:
                deltas = (deltas + 2**31) % 2**32 - 2**31
            biggest = np.maximum.accumulate(np.abs(deltas).max(axis=1)).astype(float)
            widths = np.where(biggest > 0, np.frexp(biggest)[1], 0) + 1  # bit length + sign
            k = np.arange(2, len(pending) + 1)  # samples in a frame: the reference + k - 1 deltas
            lengths = 10 + 3 * size + 2 + np.ceil(widths * 3 * (k - 1) / 8)
            fits = int(k[lengths <= self.limit].max(initial=1))
            if fits == len(pending):
                break  # the next sample might still fit
            ts_ns = int(round((t[fits - 1] - POLAR_EPOCH_S) * 1e9))
            out.append((DATA, frame(mtype, ftype, ts_ns, delta_frame(ints[:fits], size))))
            del pending[:fits]
        return out

    def encode(self, acc_mps2, gyr_radps, device_time_s) -> list[tuple[str, bytes]]:
        """The frames these samples complete (each stream filled to the MTU on its own)."""
        t = np.asarray(device_time_s, float)
        out = []
        for mtype, values in ((ACC, acc_mps2), (GYRO, gyr_radps)):
            if mtype == GYRO and not self.model.has_gyro:
                continue
            self._pending[mtype] += list(zip(t, np.asarray(values, float)))
            out += self._frames(mtype)
        return out
