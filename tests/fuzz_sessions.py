"""Generated sessions for the property-based test of `analyze` (tests/test_fuzz_analyze.py) and its longer run
(benchmarks/fuzz_inputs.py): a simulated run bent in the ways real inputs go wrong."""

from __future__ import annotations

import functools
import signal
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st

from stridesense.imu.data import SensorData, Session
from stridesense.models.simulator import SimConfig, simulate_session

G = 9.80665
CLOCKS_S = [0.0, 1781128800.022, -3600.0, 12.5, 1e6]  # 0, a phone's epoch, negative, small, a device's counter


@functools.lru_cache(maxsize=2)
def base_session(seed: int = 21, duration_s: float = 40.0) -> Session:
    """A clean two-sensor run (pelvis 200 Hz, trunk 104 Hz)."""
    return simulate_session(SimConfig(seed=seed, duration_s=duration_s)).session


def _bend(d: SensorData, draw, role: str) -> SensorData:
    """One sensor, bent: its clock, rate, gaps, units, constant or NaN stretches, length."""
    t, acc = d.time_s.copy(), d.acc_mps2.copy()
    gyr = None if d.gyr_radps is None else d.gyr_radps.copy()
    every = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))  # 200 Hz down to 50 Hz (104 down to 26: refused)
    t, acc = t[::every], acc[::every]
    gyr = None if gyr is None else gyr[::every]
    if draw(st.integers(0, 3)) == 0:  # keep a part of the run only
        n = t.size
        i0 = draw(st.integers(0, n - 2))
        i1 = draw(st.integers(i0 + 2, n))
        t, acc = t[i0:i1], acc[i0:i1]
        gyr = None if gyr is None else gyr[i0:i1]
    if draw(st.booleans()):
        t = t + draw(st.floats(0.0, 0.3)) / 200 * np.random.default_rng(draw(st.integers(0, 9))).random(t.size)
        t = np.maximum.accumulate(t)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # a stretch goes wrong
        n = t.size
        if n < 2:
            break
        i0 = draw(st.integers(0, n - 1))
        i1 = min(n, i0 + draw(st.integers(1, 3000)))
        kind = draw(st.sampled_from(["gap", "gap", "constant", "constant", "nan", "zero", "spike"]))
        if kind == "gap":
            keep = np.ones(n, bool)
            keep[i0:i1] = False
            t, acc = t[keep], acc[keep]
            gyr = None if gyr is None else gyr[keep]
        elif kind == "constant":
            acc[i0:i1] = acc[i0]
            if gyr is not None:
                gyr[i0:i1] = gyr[i0]
        elif kind == "nan":
            acc[i0:i1, draw(st.integers(0, 2))] = np.nan
        elif kind == "zero":
            acc[i0:i1] = 0.0
        else:
            acc[i0:i1] = draw(st.sampled_from([1e3, -1e6, 1e300]))
    unit = draw(st.sampled_from(["mps2"] * 12 + ["g", "mg", "g one axis"]))
    if unit == "g":
        acc = acc / G
    elif unit == "mg":
        acc = acc / G * 1000
    elif unit == "g one axis":
        acc[:, draw(st.integers(0, 2))] /= G
    if gyr is not None and draw(st.integers(0, 12)) == 0:
        gyr = np.degrees(gyr)
    if gyr is not None and draw(st.integers(0, 4)) == 0:
        gyr = None  # an accelerometer-only sensor
    t = t * (1 + draw(st.sampled_from([0.0, 0.0, 50e-6, -80e-6]))) + draw(st.sampled_from(CLOCKS_S))
    return SensorData(t, acc, gyr, role, source=f"generated {role}")


@st.composite
def bent_sessions(draw, seed: int = 21) -> Session:
    """A session from the base run: each sensor bent; the trunk maybe missing; the files maybe swapped."""
    base = base_session(seed)
    pelvis = _bend(base.pelvis, draw, "pelvis")
    trunk = None if draw(st.integers(0, 4)) == 0 else _bend(base.trunk, draw, "trunk")
    if trunk is not None and draw(st.integers(0, 3)) == 0:
        pelvis, trunk = (SensorData(trunk.time_s, trunk.acc_mps2, trunk.gyr_radps, "pelvis", "generated trunk"),
                         SensorData(pelvis.time_s, pelvis.acc_mps2, pelvis.gyr_radps, "trunk", "generated pelvis"))
    return Session(pelvis, trunk, draw(st.sampled_from([70.0] * 8 + [55.5, 7.0])))


class TooSlow(Exception):
    """The analysis did not answer within its time bound."""


@contextmanager
def time_bound(seconds: int):
    """Raise TooSlow in the main thread if the block runs longer than ``seconds`` (a hang, not a slow run)."""

    def alarm(signum, frame):
        raise TooSlow(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
