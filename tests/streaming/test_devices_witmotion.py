"""WitMotion BLE 5.0 as WitMotion's own SDK parses and configures it.

Vendor source: github.com/WITMOTION/WitBluetooth_BWT901BLE5_0, commit
9efaab0fdd6a06dc807bf80402e58aa91b431c6f: Python/BWT901BLE5.0_python_sdk/device_model.py
(onDataReceived, processData, get_writeBytes, get_readBytes, unlock, save, writeReg),
IOS_swift/BleExample/BleExampleApp.swift (readReg03, setBackRate50hz, setBackRate10hz) and
IOS_swift/WitSDK/WitSensorApi/Modular/Ble5/Bwt901ble.swift (unlockReg, saveReg).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridesense.errors import ProtocolError
from stridesense.streaming.devices import family_for
from stridesense.streaming.devices.witmotion import NOTIFY, WRITE, WitMotion, WitMotionEncoder

VENDOR_UNLOCK = bytes([0xFF, 0xAA, 0x69, 0x88, 0xB5])  # Bwt901ble.swift unlockReg; get_writeBytes(0x69, 0xb588)
VENDOR_SAVE = bytes([0xFF, 0xAA, 0x00, 0x00, 0x00])  # Bwt901ble.swift saveReg; save()
VENDOR_50HZ = bytes([0xFF, 0xAA, 0x03, 0x08, 0x00])  # BleExampleApp.swift setBackRate50hz
VENDOR_10HZ = bytes([0xFF, 0xAA, 0x03, 0x06, 0x00])  # BleExampleApp.swift setBackRate10hz
VENDOR_READ_03 = bytes([0xFF, 0xAA, 0x27, 0x03, 0x00])  # BleExampleApp.swift readReg03


def vendor_process(packet: bytes) -> dict:
    """device_model.processData's arithmetic, transcribed (its units: g, deg/s, deg; register values)."""
    def s16(lo, hi):
        v = packet[hi] << 8 | packet[lo]
        return v - 65536 if v >= 32768 else v
    if packet[1] == 0x61:
        return {"acc_g": [s16(2 + 2 * i, 3 + 2 * i) / 32768 * 16 for i in range(3)],
                "gyr_dps": [s16(8 + 2 * i, 9 + 2 * i) / 32768 * 2000 for i in range(3)]}
    return {"register": packet[3] << 8 | packet[2], "values": [s16(4 + 2 * i, 5 + 2 * i) for i in range(4)]}


def test_vendor_start_sequence_unlocks_waits_sets_waits_saves():
    # device_model.writeReg: unlock, sleep 0.1, write, sleep 0.1, save
    steps = WitMotion.start_steps(50)
    assert steps[:3] == [(WRITE, VENDOR_UNLOCK, 0.1), (WRITE, VENDOR_50HZ, 0.1), (WRITE, VENDOR_SAVE, 0.0)]
    assert steps[3] == (WRITE, VENDOR_READ_03, 0.0)
    assert WitMotion.start_steps(10)[1][1] == VENDOR_10HZ
    assert WitMotion.rate(208) == 200 and WitMotion.start_steps(208)[1][1] == bytes([0xFF, 0xAA, 0x03, 0x0B, 0x00])


def test_a_register_reply_with_55_61_inside_is_not_a_sample_and_the_next_packet_is_kept():
    # A quaternion read-back (register 0x51) whose values hold the bytes 55 61 -- the old scanner's false 10 g.
    reply = bytes([0x55, 0x71, 0x51, 0x00, 0x55, 0x61, 0x00, 0x40, 0x10, 0x00, 0x20, 0x00]).ljust(20, b"\x00")
    real = bytes([0x55, 0x61, 0x77, 0x02, 0xA8, 0xFE, 0x92, 0xFE, 0x06, 0x02, 0x30, 0xFE, 0xCD, 0xFF]).ljust(20, b"\x00")
    dec = WitMotion.decoder()
    out = dec.decode(NOTIFY, reply + real)
    assert len(out) == 1 and out[0].n == 1 and dec.skipped_bytes == 0
    want = vendor_process(real)
    assert out[0].acc_mps2[0] == pytest.approx(np.array(want["acc_g"]) * 9.80665)
    assert np.degrees(out[0].gyr_radps[0]) == pytest.approx(want["gyr_dps"])
    got = vendor_process(reply)
    assert {got["register"] + k: v for k, v in enumerate(got["values"])} == {k: dec.registers[k] for k in range(0x51, 0x55)}


def test_the_simulated_sensors_packets_read_back_through_the_vendors_arithmetic():
    acc = np.array([[1.0, -2.5, 9.80665]])
    gyr = np.radians([[100.0, -250.0, 3.0]])
    (_, packet), = WitMotionEncoder(50).encode(acc, gyr)
    got = vendor_process(packet)
    assert len(packet) == 20 and packet[:2] == b"\x55\x61"
    assert np.array(got["acc_g"]) * 9.80665 == pytest.approx(acc[0], abs=16 * 9.80665 / 32768)
    assert got["gyr_dps"] == pytest.approx(np.degrees(gyr[0]), abs=2000 / 32768)


def test_the_simulated_sensor_keeps_a_saved_rate_and_answers_the_read_back():
    enc = WitMotionEncoder(50)
    for _, payload, _ in WitMotion.start_steps(50)[:3]:
        assert enc.respond(WRITE, payload) == []
    assert enc.saved[0x03] == 0x08
    (_, reply), = enc.respond(WRITE, VENDOR_READ_03)
    assert vendor_process(reply) == {"register": 3, "values": [8, 0, 0, 0]}
    dec = WitMotion.decoder(50)
    assert dec.decode(NOTIFY, reply) == [] and dec.registers[3] == 8
    enc2 = WitMotionEncoder(50)
    enc2.respond(WRITE, VENDOR_50HZ)  # without the unlock the sensor ignores the write
    assert enc2.registers[0x03] == 0x06


def test_a_published_packet_decodes_by_the_vendor_scaling():
    # A 20-byte notification quoted in public code about the WT901BLE:
    packet = bytes([85, 97, 119, 2, 168, 254, 146, 254, 6, 2, 48, 254, 205, 255, 248, 240, 83, 252, 171, 196])
    (s,) = WitMotion.decoder().decode(NOTIFY, packet)
    # ax = 0x0277 = 631 -> 631 / 32768 * 16 g; gx = 0x0206 = 518 -> 518 / 32768 * 2000 deg/s
    assert s.acc_mps2[0] == pytest.approx(np.array([631, -344, -366]) / 32768 * 16 * 9.80665)
    assert s.gyr_radps[0] == pytest.approx(np.radians(np.array([518, -464, -51]) / 32768 * 2000))
    assert s.device_time_s is None


def test_round_trip_within_quantisation_and_packets_split_or_joined(sim_short):
    d = sim_short.session.pelvis.slice_time(10, 12)
    notes = WitMotion.encoder(200).encode(d.acc_mps2, d.gyr_radps)
    stream = b"".join(p for _, p in notes)
    dec = WitMotion.decoder()
    out = []
    for i in range(0, len(stream), 13):  # chunks that cut packets anywhere
        out += dec.decode(NOTIFY, stream[i:i + 13])
    acc = np.concatenate([s.acc_mps2 for s in out])
    gyr = np.concatenate([s.gyr_radps for s in out])
    assert acc.shape == d.acc_mps2.shape
    assert np.abs(acc - d.acc_mps2).max() <= 16 * 9.80665 / 32768
    assert np.abs(gyr - d.gyr_radps).max() <= np.radians(2000) / 32768
    assert dec.skipped_bytes == 0


def test_garbage_between_packets_is_skipped_and_counted():
    dec = WitMotion.decoder()
    good = WitMotion.encoder(100).encode(np.zeros((1, 3)) + 9.81, np.zeros((1, 3)))[0][1]
    out = dec.decode(NOTIFY, b"\x01\x02\x03" + good + b"\xff")
    assert len(out) == 1 and out[0].n == 1 and dec.skipped_bytes == 4


def test_wrong_characteristic_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        WitMotion.decoder().decode("0000ffe9-0000-1000-8000-00805f9a34fb", b"\x55\x61")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_random_bytes_never_crash_and_at_most_one_packet_is_held(chunks):
    dec = WitMotion.decoder()
    for c in chunks:
        for s in dec.decode(NOTIFY, c):
            assert np.isfinite(s.acc_mps2).all() and np.isfinite(s.gyr_radps).all()
        assert len(dec._packet) < 20


def test_advertisements_are_recognised():
    assert family_for("WT901BLE68", []) is WitMotion
    assert family_for("Forerunner 265", []) is None
