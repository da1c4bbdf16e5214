import numpy as np

from stridesense.streaming.clock import DeviceClock


def test_offset_and_50_ppm_drift_from_jittery_arrivals_within_a_millisecond():
    rng = np.random.default_rng(0)
    fs, per_packet = 208.0, 8
    clock = DeviceClock(fs)
    device = 1000.0 + np.arange(208 * 120) / fs  # two minutes
    true_offset, true_drift = 5.25, 50e-6
    for i in range(0, device.size, per_packet):
        t = device[i:i + per_packet]
        lag = 0.008 + rng.exponential(0.015)  # radio + scheduling: late, never early
        clock.add_packet(t, true_offset + (1 + true_drift) * t[-1] + lag)
    mapped = clock.to_session(device)
    truth = true_offset + (1 + true_drift) * device
    err_ms = np.abs(mapped - truth - 0.008) * 1e3  # the fixed part of the lag cannot be seen
    assert err_ms.max() < 1.0
    assert not clock.gaps


def test_lost_packets_are_found_and_counted():
    clock = DeviceClock(100.0)
    t = np.arange(1000) / 100.0
    keep = np.ones(t.size, bool)
    keep[400:416] = False  # two 8-sample packets lost
    for i in range(0, t.size, 8):
        chunk = t[i:i + 8][keep[i:i + 8]]
        if chunk.size:
            clock.add_packet(chunk, chunk[-1] + 0.02)
    assert len(clock.gaps) == 1
    start, end, missing = clock.gaps[0]
    assert missing == 16 and abs(start - 3.99) < 1e-9 and abs(end - 4.16) < 1e-9
