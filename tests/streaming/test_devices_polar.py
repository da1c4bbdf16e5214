"""Polar PMD against Polar's own published vectors, decoder and simulated sensor alike.

Vendor source: github.com/polarofficial/polar-ble-sdk, commit
8fb5311c8f63fd58fdd03df1b46cbb2e8f05209e, files under
sources/Android/android-communications/library/src/test/java/com/polar/
androidcommunications/api/ble/model/gatt/client/pmd/ (named per test below;
"T/" stands for that folder).  The expected values are the ones those tests
assert, not values computed here by the code under test.
"""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.devices import FAMILIES, family_for
from stridesense.streaming.devices.polar_pmd import (
    ACC, CONTROL, DATA, GYRO, MG_TO_MPS2, POLAR_EPOCH_S, SDK_MODE, PolarH10, PolarOH1, PolarOther, PolarPmd, Reply,
    frame_values, pack_deltas, parse_settings, sample_times_ns, unpack_deltas,
)
from stridesense.streaming.devices.polar_sim import SimulatedPolar, delta_frame, frame
from stridesense.streaming.stream_decoder import StreamDecoder

TS_2E9 = bytes.fromhex("0094357700000000")  # 2 000 000 000 ns, the vendor tests' frame timestamp

# T/model/AccDataTest.kt, "process acc raw data frame type 1" (first 2 of its 36 samples asserted, and the count)
ACC_RAW_TYPE1 = bytes.fromhex(
    "F7FFFFFFE703F8FFFEFFE503F9FFFFFFE503FAFFFFFFE603FAFFFEFFE603F9FFFFFFE503F8FFFFFFE603F8FFFEFFE603"
    "FAFFFFFFE503FAFFFFFFE703FAFFFFFFE503F8FFFFFFE603F7FFFFFFE603F8FFFEFFE603F9FFFEFFE703F9FF0000E603"
    "F9FFFFFFE603F7FFFEFFE503F9FFFFFFE503F9FFFFFFE503FAFF0000E603F9FFFEFFE603F8FFFFFFE603F8FFFFFFE503"
    "F9FFFFFFE603F9FFFFFFE503FAFFFFFFE603F9FFFFFFE503F9FFFFFFE503F8FFFEFFE603F9FFFFFFE603F9FFFFFFE603"
    "F9FF0000E503F9FFFEFFE603F8FFFEFFE603F7FFFEFFE603")
# T/model/AccDataTest.kt, "process acc compressed data type 0" (factor 2.44e-4, previous timestamp 100 ns)
ACC_DELTA_TYPE0 = bytes.fromhex(
    "7107F06A9E8D0A38BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB2F8FD3DE4BE3"
    "B5F7D2B8EDBD307E7B2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC18FE3B2F8403BFCBE0C2EF32"
    "B8F0BB044EBC2E8113AF0BE0C6EFF2F7F1B9FC7DBC2E7D279F4BDFCAEBC2F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8"
    "E00DFD2D774B7FCBDDD2DF6237F5B7D44DBD2D745B6FCBDCD7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD"
    "2C6F7B3F4BDBE0CFD236F8B2B02DBE2C6C8F1FCBDAE3C7A276F9")
# T/model/AccDataTest.kt, "process acc compressed data type 1" (timestamp 0x65 = 101 ns, previous 100 ns)
ACC_DELTA_TYPE1 = bytes.fromhex("F1FF1400F00306017B0F08")
# T/model/GyrDataTest.kt, "process gyro compressed data type 0" (timestamp 0x7FFF...FF, previous 100 ns)
GYR_DELTA_TYPE0 = bytes.fromhex("EAFF08000D000301DF00")
# T/model/GyrDataTest.kt, "process gyro compressed data type 1" (and "... with factor", factor 0.5)
GYR_DELTA_TYPE1 = bytes.fromhex("0000803F000020410000A0411C010000A001000008CDCCEC0D")


def f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


# --- decoder -----------------------------------------------------------------------------------------

def test_vendor_acc_raw_type1_frame_first_at_the_nominal_rate_ending_on_its_timestamp():
    dec = PolarPmd.decoder(52)
    dec.rates_hz[ACC] = 52.0  # AccDataTest gives the sample rate 52 and no previous frame
    (s,) = dec.decode(DATA, bytes([ACC]) + TS_2E9 + bytes([0x01]) + ACC_RAW_TYPE1)
    mg = s.acc_mps2 / MG_TO_MPS2
    assert mg.shape == (len(ACC_RAW_TYPE1) // 6, 3) == (36, 3)
    assert mg[:2] == pytest.approx(np.array([[-9, -1, 999], [-8, -2, 997]]), abs=1e-9)
    assert s.device_time_s[-1] == pytest.approx(POLAR_EPOCH_S + 2.0, abs=1e-6)
    assert np.diff(s.device_time_s) == pytest.approx(1 / 52, abs=1e-6)


def test_vendor_acc_compressed_type0_is_16_bit_g_times_factor():
    # AccDataTest: (factor * sample * 1000f).toInt() milli-g; ours keeps the fraction the SDK truncates.
    factor = struct.unpack("<f", struct.pack("<f", 2.44e-4))[0]
    mg = frame_values(ACC, 0x80, ACC_DELTA_TYPE0, factor)
    assert mg.shape == (57, 3)  # reference sample + 56 deltas
    ref = np.array([1905, 27376, -29282])
    first = ref + np.array([190, -105, -85])
    expected_int = np.trunc(np.float32(factor) * np.vstack([ref, first]).astype(np.float32) * np.float32(1000))
    assert np.abs(mg[:2] - expected_int).max() < 1.0
    assert np.abs(mg).max() <= 8 * 1000  # the vendor test: within the 8 g range


def test_vendor_acc_compressed_type1_is_16_bit_milli_g():
    mg = frame_values(ACC, 0x81, ACC_DELTA_TYPE1, 1.0)
    assert mg.tolist() == [[-15, 20, 1008], [-20, 17, 1008]]


def test_vendor_gyro_compressed_type0_is_16_bit_times_factor():
    assert frame_values(GYRO, 0x80, GYR_DELTA_TYPE0, 1.0).tolist() == [[-22, 8, 13], [-23, 11, 16]]


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_vendor_gyro_compressed_type1_is_float32_bit_patterns_delta_compressed(factor):
    dps = frame_values(GYRO, 0x81, GYR_DELTA_TYPE1, factor)
    expected = [[f32(0x3F800000), f32(0x41200000), f32(0x41A00000)],
                [f32(0x3F800000 + 0x1A00000), f32(0x41200000 + 0x0800000), f32(0x41A00000 + 0xFDECCCCD)]]
    assert dps.tolist() == (np.array(expected) * factor).tolist()


@pytest.mark.parametrize("prev, ts, n, rate, expected", [
    # T/model/PmdTimeStampUtilsTest.kt
    (0, 10_000_000_000, 10, 1, [k * 1_000_000_000 for k in range(1, 11)]),
    (0, 1_000_000_000, 1, 1, [1_000_000_000]),
    (1_000_000_000, 11_000_000_000, 10, 1, [k * 1_000_000_000 for k in range(2, 12)]),
    (100, 2_000_000_000, 3, 1, [round(666666733.33), round(1333333366.66), 2_000_000_000]),
    (1_000_000_000, 2_000_000_000, 1, 1, [2_000_000_000]),
    # T/model/AccDataTest.kt (compressed type 1): 100 ns before, stamps 100 and 101
    (100, 101, 2, 0, [100, 101]),
    # sources/iOS/ios-communications/Tests/iOSCommunicationsTests/AccDataTest.swift, testProcessAccCompressedFrameType1
    (100, 102, 2, 0, [101, 102]),
])
def test_vendor_sample_times(prev, ts, n, rate, expected):
    assert sample_times_ns(prev, ts, n, rate).tolist() == expected


def test_vendor_sample_times_of_the_56_delta_frame_and_the_refused_inputs():
    t = sample_times_ns(100, 2_000_000_000, 57, 0)
    assert t[0] == round(100 + (2_000_000_000 - 100) / 57) and t[-1] == 2_000_000_000
    with pytest.raises(ProtocolError):
        sample_times_ns(0, 100_000, 100, 0)  # TimeStampAndFrequencyZeroError
    with pytest.raises(ProtocolError):
        sample_times_ns(0, 100_000, 100, 52)  # NegativeTimeStampError


def test_vendor_control_point_replies():
    # T/BlePmdClientControlPointResponseTest.kt
    ok = Reply.parse(bytes.fromhex("F001020000FFFFFF"))
    assert (ok.op, ok.mtype, ok.status, ok.more, ok.params) == (1, 2, 0, False, bytes.fromhex("FFFFFF"))
    bad = Reply.parse(bytes.fromhex("F001060700"))
    assert (bad.op, bad.mtype, bad.status, bad.more, bad.params) == (1, 6, 7, False, b"")


def test_vendor_settings_block():
    # T/PmdSettingTest.kt, testPmdSettingsWithRange
    params = bytes.fromhex("00013400010110000204F500F401E803D007040103")
    assert parse_settings(params) == {0: [52], 1: [16], 2: [245, 500, 1000, 2000], 4: [3]}


@pytest.mark.parametrize("note", [bytes([0x01]), bytes([0x01, 0x01, 0x02])])
def test_vendor_measurement_stopped_notification_is_noticed_not_an_error(note):
    # T/BlePmdClientTest.kt: "process measurement stop control point command [from service no content]"
    stream = StreamDecoder(PolarPmd, 208)
    assert stream.feed(0.0, CONTROL, note) == []
    assert stream.dropped == [] and stream.ended == [{1: "measurement type 1", 2: "accelerometer"}[t]
                                                     for t in note[1:]]


def test_the_decoder_reads_the_factor_of_a_start_reply_then_the_vendor_gyro_frame():
    dec = PolarPmd.decoder(52)
    dec.decode(CONTROL, bytes([0xF0, 2, GYRO, 0, 0, 5, 1]) + struct.pack("<f", 0.5))
    (s,) = dec.decode(DATA, bytes([GYRO]) + TS_2E9 + bytes([0x81]) + GYR_DELTA_TYPE1)
    assert np.degrees(s.gyr_radps[0]).tolist() == pytest.approx([0.5, 5.0, 10.0])


def test_a_repeated_frame_is_a_duplicate_and_a_lost_one_a_hole_at_the_nominal_rate():
    dec = PolarPmd.decoder(52)
    body = ACC_DELTA_TYPE1
    at = [10**18 + k * 2 * 10**9 // 52 for k in (1, 2, 4)]  # two samples a frame; the third frame is lost
    out = [dec.decode(DATA, bytes([ACC]) + struct.pack("<Q", ts) + b"\x81" + body) for ts in (at[0], at[1], at[1], at[2])]
    assert [len(o) for o in out] == [1, 1, 0, 1] and dec.duplicates == 1
    assert np.diff(out[3][0].device_time_s) == pytest.approx(1 / 52, abs=1e-6)


@pytest.mark.parametrize("frame_bytes, message", [
    (b"\x02\x00", "shorter"),
    (bytes([9]) + bytes(8) + b"\x01\x00\x00", "was not asked for"),
    (bytes([ACC]) + bytes(8) + b"\x07" + bytes(6), "not one Polar's SDK reads"),
    (bytes([GYRO]) + bytes(8) + b"\x01" + bytes(6), "not one Polar's SDK reads"),
    (bytes([ACC]) + bytes(8) + b"\x01" + bytes(5), "whole number"),
    (bytes([ACC]) + bytes(8) + b"\x81" + bytes(6) + b"\x08\x05\x00", "shorter than its bit width"),
])
def test_malformed_frames_are_protocol_errors(frame_bytes, message):
    with pytest.raises(ProtocolError, match=message):
        PolarPmd.decoder(52).decode(DATA, frame_bytes)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_frames_give_samples_or_protocol_errors_only(frame_bytes):
    try:
        for s in PolarPmd.decoder(52).decode(DATA, frame_bytes):
            assert s.n >= 1
    except ProtocolError:
        pass


def test_delta_bits_are_packed_lsb_first():
    assert pack_deltas(np.array([[1, -1, 2]]), 3) == bytes([0xB9, 0x00])
    assert unpack_deltas(bytes([0xB9, 0x00]), 3, 1).tolist() == [[1, -1, 2]]


# --- the simulated sensor's bytes against the same vectors --------------------------------------------

def test_simulated_frames_are_the_vendor_bytes():
    # The vendor's expected samples, encoded with the vendor frame's bit width, give the vendor's bytes.
    assert delta_frame(np.array([[-22, 8, 13], [-23, 11, 16]]), 2, width=3) == GYR_DELTA_TYPE0
    bits = np.array([[0x3F800000, 0x41200000, 0x41A00000],
                     [0x3F800000 + 0x1A00000, 0x41200000 + 0x0800000, (0x41A00000 + 0xFDECCCCD) & 0xFFFFFFFF]])
    assert delta_frame(np.where(bits >= 2**31, bits - 2**32, bits), 4, width=28) == GYR_DELTA_TYPE1
    # AccDataTest's type-1 vector has one stray bit past its 18 bits of deltas (0x08 in the last byte).
    ours = delta_frame(np.array([[-15, 20, 1008], [-20, 17, 1008]]), 2, width=6)
    assert ours[:-1] == ACC_DELTA_TYPE1[:-1] and ours[-1] == ACC_DELTA_TYPE1[-1] & 0b11
    assert frame(GYRO, 0x80, 0x7FFFFFFFFFFFFFFF, b"") == bytes.fromhex("05FFFFFFFFFFFFFF7F80")


def test_simulated_acc_type0_scaling_and_bit_layout_reproduce_the_56_sample_vendor_frame():
    sim = SimulatedPolar(PolarPmd.model, 52, acc_frame=0x80)
    sim.ACC_FACTOR_G = struct.unpack("<f", struct.pack("<f", 2.44e-4))[0]
    mg = frame_values(ACC, 0x80, ACC_DELTA_TYPE0, sim.ACC_FACTOR_G)
    ints, size = sim._ints(ACC, mg * MG_TO_MPS2)
    assert ints[:2].tolist() == [[1905, 27376, -29282], [2095, 27271, -29367]]  # the vendor's asserted samples
    assert delta_frame(ints, size, width=10) == ACC_DELTA_TYPE0


def test_simulated_acc_and_gyro_frames_are_separate_mtu_filled_and_differently_timed(sim_short):
    d = sim_short.session.pelvis.slice_time(10, 14)
    sim = SimulatedPolar(PolarPmd.model, 208)
    t = 1.7e9 + np.arange(d.n) / 208
    notes = [n for i in range(0, d.n - 3, 4) for n in sim.encode(d.acc_mps2[i:i + 4], d.gyr_radps[i:i + 4], t[i:i + 4])]
    acc = [p for _, p in notes if p[0] == ACC]
    gyr = [p for _, p in notes if p[0] == GYRO]
    assert acc and gyr and all(len(p) <= 244 for _, p in notes)
    assert min(len(p) for p in acc + gyr) > 244 - 12  # each frame full to within a sample's bits
    assert {p[1:9] for p in acc} != {p[1:9] for p in gyr}  # last-sample timestamps differ


# --- models, SDK mode and refusals ----------------------------------------------------------------------

def _start(family, rate, sim):
    dec = family.decoder(rate)
    for char, written in family.start_commands(rate):
        for c, reply in sim.respond(char, written):
            dec.decode(c, reply)
    return dec


def test_verity_sense_at_208_hz_starts_sdk_mode_first():
    # documentation/SdkModeExplained.md and products/PolarVeritySense.md: 52 Hz, or 26-416 Hz in SDK mode
    cmds = PolarPmd.start_commands(208)
    assert [c[1][:2] for c in cmds] == [bytes([1, ACC]), bytes([1, GYRO]), bytes([2, SDK_MODE]), bytes([2, ACC]),
                                        bytes([2, GYRO])]  # settings queries, SDK mode, then the streams
    assert cmds[3][1][:6] == bytes([2, ACC, 0, 1]) + struct.pack("<H", 208)
    sim = SimulatedPolar(PolarPmd.model, 208)
    dec = _start(PolarPmd, 208, sim)
    assert sim.started == {ACC, GYRO} and sim.sdk_mode
    assert dec.factors[GYRO] == pytest.approx(2000 / 32768)
    assert bytes([2, SDK_MODE]) not in [c[1] for c in PolarPmd.start_commands(52)]  # 52 Hz needs no SDK mode


def test_208_hz_without_sdk_mode_is_refused_with_advice():
    sim = SimulatedPolar(PolarPmd.model, 208)
    dec = PolarPmd.decoder(208)
    cmds = [c for c in PolarPmd.start_commands(208) if c[1] != bytes([2, SDK_MODE])]  # SDK mode never asked
    with pytest.raises(CommandRefused, match=r"invalid sample rate \(error 8\); the sensor reports accelerometer "
                                             r"rates 52 Hz; .*SDK mode.*--rate-hz 52"):
        for char, written in cmds:
            for c, reply in sim.respond(char, written):
                dec.decode(c, reply)


def test_a_firmware_without_sdk_mode_says_so():
    sim = SimulatedPolar(PolarPmd.model, 208, sdk_mode_firmware=False)
    with pytest.raises(CommandRefused, match="has no SDK mode.*firmware 1.1.5"):
        _start(PolarPmd, 208, sim)


def test_h10_and_oh1_stream_the_accelerometer_alone_at_their_rates():
    h10 = family_for("Polar H10 0A3BF1D7", [])
    assert h10 is PolarH10 and not h10.has_gyro and h10.rate(208) == 200
    assert [c[1][:2] for c in h10.start_commands(208)] == [bytes([1, ACC]), bytes([2, ACC])]
    assert "accelerometer only" in h10.describe(208) and "asked 208 Hz" in h10.describe(208)
    assert family_for("Polar OH1 1234ABCD", []) is PolarOH1 and PolarOH1.rate(208) == 50
    assert family_for("Polar Sense B36A2F2C", []) is PolarPmd
    assert family_for("Polar Loop 12345678", []) is PolarOther
    sim = SimulatedPolar(PolarH10.model, 200)
    _start(PolarH10, 208, sim)
    assert sim.started == {ACC}
    with pytest.raises(CommandRefused, match="does not offer it.*accelerometer only"):
        PolarH10.decoder(200).decode(CONTROL, sim.respond(CONTROL, bytes([2, GYRO, 0, 1, 200, 0]))[0][1])


def test_h10_stream_gives_samples_without_gyroscope(sim_short):
    d = sim_short.session.pelvis.slice_time(10, 14)
    sim = SimulatedPolar(PolarH10.model, 200)
    stream = StreamDecoder(PolarH10, 208)
    for c, w in PolarH10.start_commands(208):
        for c2, r in sim.respond(c, w):
            stream.feed(0.0, c2, r)
    t = 1.7e9 + np.arange(d.n) / 200
    notes = sim.encode(d.acc_mps2, d.gyr_radps, t)
    blocks = [b for k, (c, p) in enumerate(notes) for b in stream.feed(0.1 * k, c, p)]
    assert blocks and all(g is None for _, _, g in blocks)
    acc = np.concatenate([a for _, a, _ in blocks])
    assert np.abs(acc - d.acc_mps2[:len(acc)]).max() <= 0.5 * MG_TO_MPS2 + 1e-9


def test_an_unknown_polar_model_says_so_when_refused():
    with pytest.raises(CommandRefused, match="not a model stridesense knows .Polar Verity Sense, Polar H10, Polar OH1"):
        PolarOther.decoder(52).decode(CONTROL, bytes([0xF0, 2, GYRO, 3, 0]))


def test_other_refusals_say_what_to_try():
    dec = PolarPmd.decoder(52)
    with pytest.raises(CommandRefused, match="already running.*switch the sensor off and on"):
        dec.decode(CONTROL, bytes([0xF0, 2, ACC, 12, 0]))
    with pytest.raises(CommandRefused, match="charger"):
        dec.decode(CONTROL, bytes([0xF0, 2, ACC, 13, 0]))
    assert dec.decode(CONTROL, bytes([0xF0, 3, GYRO, 6, 0])) == []  # stopping what is not running is fine
    assert dec.decode(CONTROL, bytes([0xF0, 2, SDK_MODE, 6, 0])) == []  # SDK mode already on


def test_the_fake_bluez_polar_family_is_the_verity_sense():
    assert FAMILIES["polar"] is PolarPmd and PolarPmd.has_gyro


def test_the_fake_bluez_device_options_reach_the_simulated_sensor():
    sim = PolarPmd.encoder(208, sdk_mode_firmware=False, gyro_frame=0x81)
    assert not sim.sdk_firmware and sim.gyro_frame == 0x81
    (_, reply), = sim.respond(CONTROL, bytes([2, SDK_MODE]))
    assert reply[3] == 3  # not supported
