"""The recorder's consumer side: bytes -> samples on the session clock, bad packets counted, never fatal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridesense.errors import CommandRefused
from stridesense.streaming.stream_decoder import StreamDecoder
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


def test_a_lost_polar_gyro_frame_drops_its_accelerometer_partner_and_is_counted(sim_short):
    data, packets = _packets(sim_short, "polar")
    del packets[5]  # a gyro frame lost on the way (frames alternate acc, gyr)
    dec = StreamDecoder(FAMILIES["polar"], RATE)
    blocks = _feed(dec, packets, period=18 / RATE)
    n = sum(b[0].size for b in blocks)
    assert n == (data.n // 36 - 1) * 36
    assert dec.dropped == ["an accelerometer or gyroscope frame without its partner"]
    assert dec.clock.gaps and dec.clock.gaps[0][2] == 36  # and the missing frame is a recorded gap


def test_a_refusal_is_raised_not_counted():
    dec = StreamDecoder(FAMILIES["polar"], RATE)
    with pytest.raises(CommandRefused):
        dec.feed(0.0, "fb005c81-02e7-f387-1cad-8acd2d8df0c8", bytes([0xF0, 2, 2, 5, 0]))


def test_witmotion_silence_is_a_gap_not_squeezed_time(sim_short):
    data, packets = _packets(sim_short, "witmotion")
    dec = StreamDecoder(FAMILIES["witmotion"], RATE)
    blocks = []
    for k, (char, payload) in enumerate(packets):
        if 300 - 104 <= k < 300:
            continue  # half a second of samples never came
        blocks += dec.feed(k / RATE + 0.005, char, payload)
    t = np.concatenate([b[0] for b in blocks])
    assert np.diff(t).max() == pytest.approx(105 / RATE, abs=2 / RATE)
    assert dec.clock.gaps and abs(dec.clock.gaps[0][2] - 104) <= 2


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
        _VALID[family] = FAMILIES[family].encoder(RATE).encode(d.acc_mps2, d.gyr_radps, 1e9 + d.time_s)
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
