import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridesense.errors import ProtocolError
from stridesense.streaming.devices import family_for
from stridesense.streaming.devices.polar_pmd import (
    ACC, CONTROL, DATA, GYRO, POLAR_EPOCH_S, PolarPmd, pack_deltas, unpack_deltas,
)


def test_delta_bits_are_packed_lsb_first():
    # width 3, one sample (1, -1, 2): 001 | 111 | 010 read from bit 0 upwards -> 0b010_111_001 = 0xB9, 0x00
    assert pack_deltas(np.array([[1, -1, 2]]), 3) == bytes([0xB9, 0x00])
    assert unpack_deltas(bytes([0xB9, 0x00]), 3, 1).tolist() == [[1, -1, 2]]


def test_a_raw_16_bit_acc_frame_with_its_timestamp_on_the_last_sample():
    ts_ns = 599_616_000_000_000_000  # 2019 in ns since 2000-01-01
    samples = [(10, -20, 1000), (11, -21, 1001)]
    frame = bytes([ACC]) + struct.pack("<Q", ts_ns) + bytes([0x01]) + b"".join(
        struct.pack("<3h", *s) for s in samples)
    (out,) = PolarPmd.decoder(52).decode(DATA, frame)
    assert out.kind == "acc" and out.acc_mps2 == pytest.approx(np.array(samples) * 9.80665 / 1000)
    assert out.device_time_s[-1] == pytest.approx(POLAR_EPOCH_S + ts_ns * 1e-9)
    assert out.device_time_s[-1] - out.device_time_s[0] == pytest.approx(1 / 52, abs=1e-6)


def test_round_trip_of_delta_frames(sim_short):
    d = sim_short.session.pelvis.slice_time(10, 12)
    t = POLAR_EPOCH_S + 7e8 + np.arange(d.n) / 208
    enc, dec = PolarPmd.encoder(208), PolarPmd.decoder(208)
    for char, written in PolarPmd.start_commands(208):  # the start replies carry the gyro's conversion factor
        for c, reply in enc.respond(char, written):
            dec.decode(c, reply)
    notes = enc.encode(d.acc_mps2, d.gyr_radps, t)
    out = [s for c, p in notes for s in dec.decode(c, p)]
    acc = np.concatenate([s.acc_mps2 for s in out if s.kind == "acc"])
    gyr = np.concatenate([s.gyr_radps for s in out if s.kind == "gyr"])
    n = acc.shape[0]
    assert n == (d.n // 36) * 36
    assert np.abs(acc - d.acc_mps2[:n]).max() <= 0.5 * 9.80665 / 1000 + 1e-9  # 1 mG steps
    step = np.radians(2000 / 32768)  # the factor announced in the start reply
    assert np.abs(gyr - d.gyr_radps[:n]).max() <= step / 2 + 1e-9
    times = np.concatenate([s.device_time_s for s in out if s.kind == "acc"])
    assert np.abs(times - t[:n]).max() < 1e-6


def test_start_and_the_sensor_answer():
    cmds = PolarPmd.start_commands(200)
    assert [c for c, _ in cmds] == [CONTROL, CONTROL]
    assert cmds[0][1][:6] == bytes([2, ACC, 0, 1]) + struct.pack("<H", 208)
    enc = PolarPmd.encoder(208)
    dec = PolarPmd.decoder(208)
    for char, written in cmds:
        for c, reply in enc.respond(char, written):
            assert dec.decode(c, reply) == []
    assert dec.factors[GYRO] == pytest.approx(2000 / 32768)
    with pytest.raises(ProtocolError, match="refused"):
        dec.decode(CONTROL, bytes([0xF0, 2, GYRO, 5, 0]))


@pytest.mark.parametrize("frame, message", [
    (b"\x02\x00", "shorter"),
    (bytes([9]) + bytes(8) + b"\x01\x00\x00", "unknown PMD measurement type"),
    (bytes([ACC]) + bytes(8) + b"\x07" + bytes(6), "unknown PMD frame type"),
    (bytes([ACC]) + bytes(8) + b"\x01" + bytes(5), "whole number"),
    (bytes([ACC]) + bytes(8) + b"\x81" + bytes(6) + b"\x08\x05\x00", "shorter than its bit width"),
])
def test_malformed_frames_are_protocol_errors(frame, message):
    with pytest.raises(ProtocolError, match=message):
        PolarPmd.decoder(52).decode(DATA, frame)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_frames_give_samples_or_protocol_errors_only(frame):
    try:
        for s in PolarPmd.decoder(52).decode(DATA, frame):
            assert s.n >= 1
    except ProtocolError:
        pass


def test_advertisement_is_recognised():
    assert family_for("Polar Sense B36A2F2C", []) is PolarPmd


def test_a_start_reply_with_a_cut_off_or_unknown_setting_leaves_the_factor_alone():
    dec = PolarPmd.decoder(208)
    dec.decode(CONTROL, bytes([0xF0, 2, GYRO, 0, 0, 5, 1, 0, 0]))  # factor cut off
    dec.decode(CONTROL, bytes([0xF0, 2, GYRO, 0, 0, 9, 1, 1, 2, 3, 4]))  # unknown setting type
    assert dec.factors[GYRO] == 1.0
    with pytest.raises(ProtocolError, match="factor"):
        dec.decode(CONTROL, bytes([0xF0, 2, GYRO, 0, 0, 5, 1]) + struct.pack("<f", -1.0))
