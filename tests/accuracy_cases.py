"""The simulated sessions the accuracy tests run on: 20 seeds across the range.

Rates 100-400 Hz, cadence 150-200 spm, speed 2-6 m/s, mountings at random,
asymmetry, turns, fatigue and noise all vary with the seed.
"""

import numpy as np

from stridesense.models.simulator import SimConfig

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
