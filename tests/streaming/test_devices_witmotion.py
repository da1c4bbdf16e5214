import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridesense.errors import ProtocolError
from stridesense.streaming.devices import family_for
from stridesense.streaming.devices.witmotion import NOTIFY, WitMotion


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
def test_random_bytes_never_crash_and_the_buffer_stays_small(chunks):
    dec = WitMotion.decoder()
    for c in chunks:
        for s in dec.decode(NOTIFY, c):
            assert np.isfinite(s.acc_mps2).all() and np.isfinite(s.gyr_radps).all()
        assert len(dec._buf) <= 80


def test_advertisements_are_recognised():
    assert family_for("WT901BLE68", []) is WitMotion
    assert family_for("Forerunner 265", []) is None
