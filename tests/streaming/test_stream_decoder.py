"""The recorder's consumer side: bytes -> samples on the session clock, bad packets counted, never fatal."""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridesense.errors import CommandRefused
from stridesense.streaming.stream_decoder import NO_GYRO, StreamDecoder
from stridesense.streaming.devices import FAMILIES

RATE = 208.0


def _packets(sim, family, role="pelvis", t0=1e9):
    data = getattr(sim.session, role).slice_time(10, 14)
    enc = FAMILIES[family].encoder(RATE)
    t = t0 + np.arange(data.n) / RATE
    return data, enc.encode(data.acc_mps2, data.gyr_radps, t)


def _feed(dec, packets, lag=0.01, period=None):
    blocks = []
    for k, (char, payload) in enumerate(packets):
        blocks += dec.feed(k * (period or 8 / RATE) + lag, char, payload)
    blocks += dec.flush()
    return blocks


def test_duplicated_and_malformed_packets_are_counted_and_the_rest_kept(sim_short):
    data, packets = _packets(sim_short, "movesense")
    noisy = []
    for k, p in enumerate(packets):
        noisy.append(p)
        if k % 10 == 3:
            noisy.append(p)  # the radio repeated it
        if k % 10 == 7:
            noisy.append((p[0], bytes([9, 42, 1, 2])))  # an unknown packet type
    dec = StreamDecoder(FAMILIES["movesense"], RATE)
    blocks = _feed(dec, noisy, period=4 / RATE)
    acc = np.concatenate([b[1] for b in blocks])
    n = data.n // 8 * 8
    assert acc.shape[0] == n and np.abs(acc - data.acc_mps2[:n]).max() < 1e-5
    assert dec.duplicates > 0 and len(dec.dropped) == sum(1 for k in range(len(packets)) if k % 10 == 7)
    t = np.concatenate([b[0] for b in blocks])
    assert (np.diff(t) > 0).all()


def _polar_stream(data, rate=RATE, t0=1.7e9):
    """A started simulated Verity Sense's frames for ``data`` (separate, MTU-filled ACC and GYRO frames)."""
    from stridesense.streaming.devices.polar_sim import SimulatedPolar

    fam = FAMILIES["polar"]
    sim, dec = SimulatedPolar(fam.model, rate), StreamDecoder(fam, rate)
    for char, written in fam.start_commands(rate):
        for c, reply in sim.respond(char, written):
            dec.feed(0.0, c, reply)
    t = t0 + np.arange(data.n) / rate
    frames = [f for i in range(0, data.n - 3, 4) for f in sim.encode(data.acc_mps2[i:i + 4], data.gyr_radps[i:i + 4],
                                                                     t[i:i + 4])]
    return dec, frames, t


def test_polar_acc_and_gyro_frames_of_different_lengths_are_merged_by_time(sim_short):
    data = sim_short.session.pelvis.slice_time(10, 14)
    dec, frames, t = _polar_stream(data)
    stamps = {kind: {p[1:9] for _, p in frames if p[0] == kind} for kind in (2, 5)}
    assert stamps[2] != stamps[5]  # ACC and GYRO frames end on different samples
    blocks = _feed(dec, frames, period=0.05)
    acc = np.concatenate([b[1] for b in blocks])
    gyr = np.concatenate([b[2] for b in blocks])
    n = acc.shape[0]
    assert n > data.n - 80 and dec.dropped == [] and not dec.clock.gaps
    assert np.abs(acc - data.acc_mps2[:n]).max() <= 0.5 * 9.80665e-3 + 1e-9  # 1 mG steps
    assert np.abs(gyr - data.gyr_radps[:n]).max() <= np.radians(2000 / 32768) / 2 + 1e-9


def test_a_lost_polar_gyro_frame_drops_the_accelerometer_samples_it_covered_counted_as_a_gap(sim_short):
    data = sim_short.session.pelvis.slice_time(10, 14)
    dec, frames, t = _polar_stream(data)
    k = [i for i, (_, p) in enumerate(frames) if p[0] == 5][2]  # the third gyroscope frame never came
    lost_n = int(np.searchsorted(t, 946684800.0 + struct.unpack_from("<Q", frames[k][1], 1)[0] * 1e-9 + 1e-7))
    del frames[k]
    blocks = _feed(dec, frames, period=0.05)
    assert dec.dropped == [NO_GYRO] and dec.unpaired > 20
    (start, end, missing), = dec.clock.gaps
    assert missing == dec.unpaired
    out_t = np.concatenate([b[0] for b in blocks])
    assert np.diff(out_t).max() == pytest.approx((missing + 1) / RATE, rel=0.05)
    assert end <= t[min(lost_n + 1, t.size - 1)] + 1.5 / RATE


def test_the_sensor_stopping_a_stream_is_noticed_not_counted_bad():
    dec = StreamDecoder(FAMILIES["polar"], RATE)
    assert dec.feed(0.0, "fb005c81-02e7-f387-1cad-8acd2d8df0c8", bytes([0x01, 0x02, 0x05])) == []
    assert dec.ended == ["accelerometer", "gyroscope"] and dec.dropped == []


def test_a_refusal_is_raised_not_counted():
    dec = StreamDecoder(FAMILIES["polar"], RATE)
    with pytest.raises(CommandRefused):
        dec.feed(0.0, "fb005c81-02e7-f387-1cad-8acd2d8df0c8", bytes([0xF0, 2, 2, 5, 0]))


def test_witmotion_silence_is_a_gap_not_squeezed_time(sim_short):
    data, packets = _packets(sim_short, "witmotion")
    dec = StreamDecoder(FAMILIES["witmotion"], RATE)
    rate = dec.rate_hz
    assert rate == 200  # WitMotion's output rate nearest 208 Hz
    blocks = []
    for k, (char, payload) in enumerate(packets):
        if 300 - 104 <= k < 300:
            continue  # half a second of samples never came
        blocks += dec.feed(k / rate + 0.005, char, payload)
    t = np.concatenate([b[0] for b in blocks])
    assert np.diff(t).max() == pytest.approx(105 / rate, abs=2 / rate)
    assert dec.clock.gaps and abs(dec.clock.gaps[0][2] - 104) <= 2


@pytest.mark.parametrize("stall_s", [0.05, 0.3, 1.2])
def test_witmotion_samples_held_up_by_a_busy_host_are_not_counted_lost(sim_short, stall_s):
    data, packets = _packets(sim_short, "witmotion")
    dec = StreamDecoder(FAMILIES["witmotion"], RATE)
    rate = dec.rate_hz
    blocks = []
    for k, (char, payload) in enumerate(packets):
        sent = k / rate + 0.003
        arrived = max(sent, 1.0 + stall_s) if 1.0 <= sent < 1.0 + stall_s else sent  # the loop stalled at 1 s
        blocks += dec.feed(arrived, char, payload)
    blocks += dec.flush()
    t = np.concatenate([b[0] for b in blocks])
    assert t.size == len(packets) and not dec.clock.gaps
    assert np.abs(np.diff(t) - 1 / rate).max() < 0.002 / rate  # evenly spaced: counted, not arrival times


def test_witmotion_lost_samples_after_a_stall_are_still_a_gap(sim_short):
    data, packets = _packets(sim_short, "witmotion")
    dec = StreamDecoder(FAMILIES["witmotion"], RATE)
    rate = dec.rate_hz
    blocks = []
    for k, (char, payload) in enumerate(packets):
        if 300 <= k < 360:
            continue  # 60 samples lost on the way ...
        sent = k / rate + 0.003
        arrived = max(sent, 2.2) if 2.0 <= sent < 2.2 else sent  # ... and later the host stalls 0.2 s
        blocks += dec.feed(arrived, char, payload)
    blocks += dec.flush()
    (_, _, missing), = dec.clock.gaps
    assert abs(missing - 60) <= 1


def test_a_late_start_of_the_clock_estimate_is_slewed_away_without_jumps(sim_short):
    data = sim_short.session.pelvis.slice_time(10, 40)
    packets = FAMILIES["movesense"].encoder(RATE).encode(data.acc_mps2, data.gyr_radps,
                                                       1000.0 + np.arange(data.n) / RATE)
    # A loaded host: the first second of packets arrives 20 ms late, then 1 ms late.
    dec = StreamDecoder(FAMILIES["movesense"], RATE)
    blocks = []
    period = 8 / RATE
    for k, (char, payload) in enumerate(packets):
        lag = 0.020 if k < 2 * RATE / 8 else 0.001
        first = 1000.0 + (k // 2) * period  # device time of the packet's first sample (two notifications each)
        blocks += dec.feed(first + period + lag - 1000.0, char, payload)
    t = np.concatenate([b[0] for b in blocks])
    device = 1000.0 + np.arange(t.size) / RATE
    # The packet leaves one sample period after its last sample, plus the radio's lag (1 ms at best).
    err = t - (device - 1000.0 + 1 / RATE + 0.001)
    # No jumps beyond the device's own timestamp resolution (Movesense stamps whole milliseconds).
    assert np.abs(np.diff(t) - 1 / RATE).max() < 0.0007  # 0.5 ms stamps + the slew of one packet
    assert abs(err[0]) > 0.015  # started late ...
    settled = np.abs(err[int(15 * RATE):])
    assert settled.max() < 0.0015  # ... and 2 ms a second later it is the truth (to the 1 ms stamps)


_VALID = {}


def _valid_packets(family):
    """A few seconds of a family's real notifications (made once), to mutate."""
    if family not in _VALID:
        from stridesense.models.simulator import SimConfig, simulate_session

        d = simulate_session(SimConfig(seed=2, duration_s=12.0, trunk_rate_hz=None)).session.pelvis.slice_time(7, 9)
        enc = FAMILIES[family].encoder(RATE)
        replies = [r for c, w in FAMILIES[family].start_commands(RATE) for r in enc.respond(c, w)]
        if family == "polar":  # the sensor ending its streams, a refusal
            replies += [(replies[0][0], bytes([0x01, 0x02, 0x05])), (replies[0][0], bytes([0xF0, 2, 2, 8, 0]))]
        _VALID[family] = replies + enc.encode(d.acc_mps2, d.gyr_radps, 1e9 + d.time_s)
    return _VALID[family]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(["polar", "movesense", "witmotion"]), data=st.data())
def test_random_and_mutated_notifications_never_crash_the_consumer_and_time_only_goes_forward(family, data):
    packets = _valid_packets(family)
    stream = []
    for _ in range(data.draw(st.integers(1, 25))):
        kind = data.draw(st.sampled_from(["valid", "mutated", "random", "repeat", "cut"]))
        char, payload = packets[data.draw(st.integers(0, len(packets) - 1))]
        if kind == "mutated":
            i = data.draw(st.integers(0, len(payload) - 1))
            payload = payload[:i] + bytes([data.draw(st.integers(0, 255))]) + payload[i + 1:]
        elif kind == "random":
            payload = data.draw(st.binary(max_size=60))
        elif kind == "cut":
            payload = payload[: data.draw(st.integers(0, len(payload)))]
        stream.append((char, payload))
        if kind == "repeat":
            stream.append((char, payload))
    dec = StreamDecoder(FAMILIES[family], RATE)
    times = []
    for k, (char, payload) in enumerate(stream):
        try:
            blocks = dec.feed(0.01 * k, char, payload)
        except CommandRefused:
            continue  # a control-point error reply: the recorder stops with it (a typed error)
        times += [b[0] for b in blocks]
    times += [b[0] for b in dec.flush()]
    if times:
        t = np.concatenate(times)
        assert np.isfinite(t).all() and (np.diff(t) > 0).all()
