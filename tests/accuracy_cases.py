"""The simulated sessions the accuracy tests run on: 20 seeds across the range.

Rates 100-400 Hz, cadence 150-200 spm, speed 2-6 m/s, mountings at random,
asymmetry, turns, fatigue and noise all vary with the seed.  Also a session's
copy as a Bluetooth recording would give it (:func:`jittered_copy`).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.models.simulator import SimConfig

JITTER_S = 0.001  # full width of the uniform sample-timing error of a recording (clock fit, Movesense's whole ms)
ACC_STEP_MPS2 = GRAVITY_MPS2 / 1000.0  # 1 mG: Polar's and Movesense's resolution
GYR_STEP_RADPS = np.radians(0.0625)

ACCURACY_SEEDS = list(range(100, 120))


def accuracy_config(seed: int, duration_s: float = 75.0) -> SimConfig:
    rng = np.random.default_rng(seed)
    rates = [100.0, 104.0, 128.0, 200.0, 208.0, 256.0, 400.0]
    return SimConfig(
        seed=seed,
        duration_s=duration_s,
        pelvis_rate_hz=float(rng.choice(rates)),
        trunk_rate_hz=float(rng.choice(rates)),
        cadence_spm=float(rng.uniform(150, 200)),
        speed_mps=float(rng.uniform(2.0, 6.0)),
        n_turns=int(rng.integers(0, 3)),
        acc_noise_mps2=float(rng.uniform(0.02, 0.1)),
        gyr_noise_radps=float(rng.uniform(0.002, 0.01)),
    )


def jittered_copy(sensor, rng: np.random.Generator):
    """A sensor's samples with +-0.5 ms of uniform timing error and the devices' value resolution."""
    t = sensor.time_s + rng.uniform(-JITTER_S / 2, JITTER_S / 2, sensor.time_s.size)
    acc = np.round(sensor.acc_mps2 / ACC_STEP_MPS2) * ACC_STEP_MPS2
    gyr = None if sensor.gyr_radps is None else np.round(sensor.gyr_radps / GYR_STEP_RADPS) * GYR_STEP_RADPS
    return replace(sensor, time_s=t, acc_mps2=acc, gyr_radps=gyr)


def without_start(session: Path, out: Path, cut_s: float) -> dict[str, Path]:
    """An outside-simulator session's pelvis and trunk CSVs with the samples before ``cut_s`` (its clock)
    left out - its standing and setting off with them - written into ``out``; the files by role."""
    files = {}
    for role in ("pelvis", "trunk"):
        samples = pd.read_csv(session / f"{role}.csv")
        files[role] = out / f"{session.name}-{cut_s:g}-{role}.csv"
        samples[samples.time_s >= cut_s].to_csv(files[role], index=False)
    return files
