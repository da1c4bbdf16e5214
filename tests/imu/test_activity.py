import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stridesense.imu.activity import classify_activity
from stridesense.models.simulator import SimConfig, simulate_session

ROUTE = (("run", 40), ("stand", 10), ("run", 25, 4.8, 188), ("walk", 15), ("run", 25, 2.4, 158))


@pytest.fixture(scope="module")
def route():
    return simulate_session(SimConfig(seed=9, duration_s=130, segments=ROUTE, n_turns=1, trunk_rate_hz=None))


def test_route_is_split_into_its_runs_stop_and_walking_break(route):
    p = route.session.pelvis
    act = classify_activity(p.time_s, p.acc_mps2, p.sampling_rate_hz)
    labels = [lab for _, _, lab in act.bouts]
    assert labels == ["standing", "running", "standing", "running", "walking", "running", "standing"]
    assert act.n_stops == 2
    # every true running step lies in a running bout
    assert (act.label_at(route.truth["ic_s"].to_numpy()) == "running").all()
    assert act.time_s("running") == pytest.approx(90, abs=6)
    assert act.time_s("walking") == pytest.approx(15, abs=4)


def test_labels_do_not_depend_on_how_the_sensor_is_clipped_on(route):
    p = route.session.pelvis
    turned = Rotation.from_euler("xyz", [70, -30, 150], degrees=True).apply(p.acc_mps2)
    a = classify_activity(p.time_s, p.acc_mps2, p.sampling_rate_hz)
    b = classify_activity(p.time_s, turned, p.sampling_rate_hz)
    assert a.bouts == b.bouts


def test_walking_like_lower_back_signal_is_walking_never_running():
    fs = 100.0
    t = np.arange(0, 30, 1 / fs)
    rng = np.random.default_rng(1)
    vertical = 9.81 * (1 + 0.25 * np.sin(2 * np.pi * 1.8 * t)) + rng.normal(0, 0.3, t.size)
    acc = np.column_stack([0.8 * np.sin(2 * np.pi * 0.9 * t), 0.5 * np.sin(2 * np.pi * 1.8 * t), vertical])
    act = classify_activity(t, acc, fs)
    assert act.time_s("running") == 0
    assert act.time_s("walking") > 25


def test_compiled_window_labels_equal_classify_window():
    from stridesense.imu.activity import _CODES, _classify_windows, classify_window

    route = simulate_session(SimConfig(seed=4, duration_s=150.0, trunk_rate_hz=None, segments=(
        ("run", 40.0), ("stand", 15.0), ("walk", 30.0), ("run", 40.0)))).session.pelvis
    t = route.time_s[::4]
    norm = np.linalg.norm(route.acc_mps2[::4], axis=1) / 9.80665
    starts = np.arange(np.floor(t[0]), t[-1] - 2.0, 1.0)
    bounds = np.searchsorted(t, np.column_stack([starts, starts + 2.0]))
    got = [_CODES[c] for c in _classify_windows(norm, 50.0, bounds)]
    want = [classify_window(norm[a:b], 50.0) if b - a > 10 else "other" for a, b in bounds]
    assert got == want
    assert {"standing", "walking", "running"} <= set(want)
