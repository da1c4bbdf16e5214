"""Posture-jump statistics: the many-blocks form against the one-block definition."""

import numpy as np

from stridesense.imu import mounting


def test_posture_shifts_for_many_blocks_equal_the_one_block_definition():
    rng = np.random.default_rng(3)
    m = 400
    blocks = np.column_stack([
        np.where((np.arange(m) >= 50) & (np.arange(m) < 55), 5.0, 200.0),  # samples per block: a gap
        rng.normal(0.1, 0.01, m), rng.normal(0.0, 0.01, m),  # mean pitch, roll
        np.where((np.arange(m) >= 300) & (np.arange(m) < 310), 0.5, 3.0),  # SD of |f|: a stop
        np.cumsum(rng.normal(0, 0.02, m)), np.cumsum(rng.normal(0, 0.02, m)),  # first / last yaw
    ])
    blocks[150:, 1] += 0.3  # a slip
    ms = np.arange(-5, m + 5)
    many = mounting.posture_shifts_blocks(blocks, ms)
    for k, mm in enumerate(ms):
        one = mounting.posture_shift_blocks(blocks, int(mm)) if 0 <= mm else None
        if one is None:
            assert np.isnan(many[k]), mm
        else:
            assert many[k] == np.float64(one) or abs(many[k] - one) < 1e-9, mm
    assert np.nanmax(many) > mounting.SHIFT_DEG


def _swaying_sensor(knock: bool, fs: float = 200.0):
    """A sensor swaying at stride frequency (1.4 Hz, 8 deg) with impacts; with a 25-Hz rattle at 20 s if knocked."""
    from scipy.spatial.transform import Rotation

    t = np.arange(0, 40, 1 / fs)
    angle = np.radians(8) * np.sin(2 * np.pi * 1.4 * t)
    if knock:
        tau = np.clip(t - 20.0, 0, None)
        angle = angle + np.radians(1.0) * (t >= 20) * np.exp(-tau / 0.03) * np.sin(2 * np.pi * 25 * tau)
    q = Rotation.from_rotvec(np.outer(angle, [0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3])).as_quat()
    quat = q[:, [3, 0, 1, 2]]  # [w, x, y, z]
    acc = np.zeros((t.size, 3))
    acc[:, 2] = 9.81 + 15 * np.exp(-((t % (1 / 2.8)) / 0.02) ** 2)  # an impact every step
    return t, quat, acc, fs


def test_a_knock_is_a_jolt_and_a_strides_own_sway_and_impacts_are_not():
    t, quat, acc, fs = _swaying_sensor(knock=True)
    assert mounting.jolt_ratio(t, quat, acc, 20.3, fs) > mounting.JOLT_RATIO
    assert mounting.jolt_ratio(t, quat, acc, 20.3 + 3 * mounting.JOLT_NEAR_S, fs) < mounting.JOLT_RATIO  # too far
    t, quat, acc, fs = _swaying_sensor(knock=False)
    assert mounting.jolt_ratio(t, quat, acc, 20.3, fs) < mounting.JOLT_RATIO


def test_the_jolt_screens_angular_rate_is_the_slip_tests_own_reading():
    # block_jolt_peaks reads the angular rate from the orientation with quaternion algebra; jolt_ratio (and
    # this readable reference) with scipy's rotations: the same block peaks.
    from scipy.signal import butter, sosfiltfilt
    from scipy.spatial.transform import Rotation

    t, quat, acc, fs = _swaying_sensor(knock=True)
    starts = np.arange(5.0, 35.0, mounting.JOLT_BLOCK_S)
    got = mounting.block_jolt_peaks(t, quat, acc, starts, fs)
    i0, i1 = np.searchsorted(t, [starts[0] - mounting.JOLT_PAD_S, starts[-1] + mounting.JOLT_BLOCK_S
                                 + mounting.JOLT_PAD_S])
    r = Rotation.from_quat(quat[i0:i1][:, [1, 2, 3, 0]])
    omega = (r[:-1].inv() * r[1:]).as_rotvec() * fs
    sos = butter(2, mounting.JOLT_HZ, "high", fs=fs, output="sos")
    mag = np.linalg.norm(sosfiltfilt(sos, omega, axis=0), axis=1)
    tt = t[i0 + 1:i1]
    want = [mag[(tt >= s) & (tt < s + mounting.JOLT_BLOCK_S)].max() for s in starts]
    # 2 x the rotation's vector part against the rotation vector: equal to (angle per sample)^2 / 6 (3e-5 here).
    assert np.allclose(got[:, 0], want, rtol=1e-3)
    k = int(np.searchsorted(starts, 20.0, side="right")) - 1  # the knock's block stands out of the 6 s before
    before = got[k - int(6 / mounting.JOLT_BLOCK_S):k].max(axis=0)
    assert (got[k] / before).max() > mounting.JOLT_SCREEN_RATIO
    t, quat, acc, fs = _swaying_sensor(knock=False)
    calm = mounting.block_jolt_peaks(t, quat, acc, starts, fs)
    m = int(6 / mounting.JOLT_BLOCK_S)
    ratios = [(calm[j] / calm[j - m:j].max(axis=0)).max() for j in range(m, len(starts))]
    assert max(ratios) < 1.1


def test_the_live_jolt_screen_takes_running_without_a_knock_for_none():
    # Data the screen was not written for: real jogging (SisFall D04_SA05, the largest block ratio seen
    # there, 1.5) and the outside simulator's session 1 (its trunk's impact transients reach 2.2).
    import warnings
    from pathlib import Path

    import pytest

    from stridesense.api import load_session, prepare_session
    from stridesense.pipeline import Analyzer
    from stridesense.streaming.replay import replay_chunks

    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    files = [(data / "real" / "sisfall-dev" / "D04_SA05_R01.csv", None),
             (data / "sim-external" / "session1" / "pelvis.csv", data / "sim-external" / "session1" / "trunk.csv")]
    if not all(p.exists() for p, _ in files):
        pytest.skip("../shared/data not here")
    for pelvis, trunk in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no standing period in SisFall: not what this test is about
            session, _ = prepare_session(load_session(pelvis, trunk, mass_kg=70))
            a = Analyzer(forget=True)
            for _t, pel, tr in replay_chunks(session, chunk_s=0.5, speed=0):
                a.feed(pel, tr)
        watches = [tr._watch for tr in (a.pelvis, a.trunk) if tr._watch is not None]
        assert watches and all(w.screen and not w.jolts_s for w in watches), pelvis
