"""Movesense gatt_sensordata_app: command replies as the firmware writes them, IMU6 data with device time."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridesense.errors import CommandRefused, ProtocolError
from stridesense.streaming.devices import family_for
from stridesense.streaming.devices.movesense import NOTIFY, WRITE, Movesense


# Vendor source: Movesense's sample firmware samples/gatt_sensordata_app/GATTSensorDataClient.cpp,
# handleIncomingCommand(), as copied in github.com/alexisduque/movesense-device-lib at commit
# c9c12269314fc86bcbb7619ac08a1954a1d722e2 (same bytes in JonasPrimbs/movesense-ble-ecg-firmware
# 6534c14974a2a77576f0e1136a6077ad0103de35):
#   helloMsg[] = {COMMAND_RESULT, reference, 'H','e','l','l','o'};
#   // 507: HTTP_CODE_INSUFFICIENT_STORAGE
#   errorMsg[] = {COMMAND_RESULT, reference, 0x01,0xFB};
VENDOR_HELLO = bytes([1, 42]) + b"Hello"
VENDOR_507 = bytes([1, 42, 0x01, 0xFB])


def test_vendor_507_reply_is_read_high_byte_first_and_refused_with_advice():
    with pytest.raises(CommandRefused, match=r"no free subscription slot.*\(status 507\).*off and on"):
        Movesense.decoder(208).decode(NOTIFY, VENDOR_507)


def test_vendor_hello_reply_is_not_a_status():
    assert Movesense.decoder(208).decode(NOTIFY, VENDOR_HELLO) == []


def test_the_simulated_firmware_answers_with_the_vendor_bytes():
    enc = Movesense.encoder(208)
    assert enc.respond(WRITE, bytes([0, 42])) == [(NOTIFY, VENDOR_HELLO)]
    (char, cmd), = Movesense.start_commands(200)
    assert char == WRITE and cmd == bytes([1, 42]) + b"/Meas/IMU6/208"
    assert enc.respond(WRITE, cmd) == []  # a subscription that works is answered by its data
    assert enc.respond(WRITE, bytes([1, 42]) + b"/Meas/IMU6/104") == [(NOTIFY, VENDOR_507)]  # no slot left
    assert enc.respond(WRITE, bytes([2, 42])) == [] and enc.respond(WRITE, cmd) == []


def test_round_trip_with_continuation_packets_and_device_time(sim_short):
    d = sim_short.session.pelvis.slice_time(10, 12)
    t_dev = 1234.5 + np.arange(d.n) / 208.0
    notes = Movesense.encoder(208).encode(d.acc_mps2, d.gyr_radps, t_dev)
    assert any(p[0] == 3 for _, p in notes)  # 198-byte packets are split at 155
    dec = Movesense.decoder(208)
    out = [s for _, p in notes for s in dec.decode(NOTIFY, p)] + dec.flush()
    n = sum(s.n for s in out)
    assert n == (d.n // 8) * 8
    acc = np.concatenate([s.acc_mps2 for s in out])
    gyr = np.concatenate([s.gyr_radps for s in out])
    t = np.concatenate([s.device_time_s for s in out])
    assert np.abs(acc - d.acc_mps2[:n]).max() < 1e-5  # float32
    assert np.abs(gyr - d.gyr_radps[:n]).max() < 1e-6
    assert np.abs(t - t_dev[:n]).max() < 1e-3  # ms timestamps


def test_the_millisecond_clock_wrap_is_unwrapped():
    dec = Movesense.decoder(104)
    enc = Movesense.encoder(104)
    z = np.zeros((8, 3))
    first = enc.encode(z, z, (2**32 - 50) / 1000 + np.arange(8) / 104)
    second = enc.encode(z, z, (2**32 + 27) / 1000 + np.arange(8) / 104)
    out = [s for _, p in first + second for s in dec.decode(NOTIFY, p)] + dec.flush()
    assert out[1].device_time_s[0] > out[0].device_time_s[-1]


def test_malformed_packets_are_protocol_errors():
    dec = Movesense.decoder(208)
    with pytest.raises(ProtocolError):
        dec.decode(NOTIFY, b"\x02")
    with pytest.raises(ProtocolError, match="continuation"):
        dec.decode(NOTIFY, bytes([3, 42, 0, 0]))
    dec.decode(NOTIFY, bytes([2, 42]) + b"\x00" * 4 + b"\x00" * 25)
    with pytest.raises(ProtocolError, match="whole number"):
        dec.flush()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_random_bytes_give_samples_or_protocol_errors_only(packets):
    dec = Movesense.decoder(208)
    for p in packets:
        try:
            dec.decode(NOTIFY, p)
        except ProtocolError:
            pass
    try:
        dec.flush()
    except ProtocolError:
        pass


def test_advertisement_is_recognised():
    assert family_for("Movesense 223330000123", []) is Movesense
