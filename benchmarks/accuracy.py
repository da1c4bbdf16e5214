"""Print the pipeline's accuracy against the simulator over the test seeds (or more).

    python benchmarks/accuracy.py            # the 20 seeds of tests/models/test_accuracy.py
    python benchmarks/accuracy.py 100        # 100 seeds
    python benchmarks/accuracy.py 20 --no-gyro   # accelerometer-only sensors
    python benchmarks/accuracy.py 20 --route     # stops, a walking break, hills
    python benchmarks/accuracy.py 20 --from 200  # the report seeds (the analysis is tuned on 100-119)
    python benchmarks/accuracy.py 20 --from 200 --real   # real-run phenomena, one per seed in turn:
        # a recording that starts mid-run, sway as strong as braking, posture wander, 100 Hz with twice the noise
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from accuracy_cases import accuracy_config  # noqa: E402

from stridesense.models.simulator import simulate_session  # noqa: E402
from stridesense.models.validation import compare_to_truth  # noqa: E402
from stridesense.pipeline import Analyzer  # noqa: E402

from dataclasses import replace  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("n", nargs="?", type=int, default=20, help="sessions (seeds)")
parser.add_argument("--from", dest="first", type=int, default=100, help="first seed")
parser.add_argument("--no-gyro", action="store_true")
parser.add_argument("--route", action="store_true")
parser.add_argument("--real", action="store_true")
opts = parser.parse_args()
n, first, no_gyro, route, real = opts.n, opts.first, opts.no_gyro, opts.route, opts.real
PHENOMENA = (dict(start_in_motion=True), dict(sway_mps2=4.0), dict(posture_wander_deg=3.0),
             dict(pelvis_rate_hz=100.0, trunk_rate_hz=100.0, acc_noise_mps2=0.1, gyr_noise_radps=0.01))
ROUTE = (("run", 60), ("stand", 10), ("run", 40, 4.8, 188), ("walk", 15), ("run", 40, 2.4, 158))
rows, ics = [], []
for seed in range(first, first + n):
    cfg = accuracy_config(seed, duration_s=200.0 if route else 75.0)
    if route:
        cfg = replace(cfg, segments=ROUTE)
    if real:
        cfg = replace(cfg, **PHENOMENA[seed % len(PHENOMENA)])
    sim = simulate_session(cfg)
    pelvis, trunk = sim.session.pelvis, sim.session.trunk
    if no_gyro:
        pelvis, trunk = replace(pelvis, gyr_radps=None), replace(trunk, gyr_radps=None)
    t0 = time.perf_counter()
    a = Analyzer(mass_kg=sim.session.mass_kg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no standing calibration (a recording that starts mid-run)
        a.push(pelvis, trunk)
        a.flush()
    c = compare_to_truth(a.steps, sim.truth)
    if not a.pelvis.standing.from_standing:  # no neutral: lean and tilt are relative to the mean running posture
        c.mean_abs["trunk_lean_deg"] = c.mean_abs["pelvic_tilt_deg"] = np.nan
    ics.append(c.ic_abs_ms)
    rows.append({
        "seed": seed, "pelvis_hz": cfg.pelvis_rate_hz, "trunk_hz": cfg.trunk_rate_hz, "spm": round(cfg.cadence_spm),
        "mps": round(cfg.speed_mps, 1), "turns": cfg.n_turns,
        "turning": float(a.steps["quality"].str.contains("turning").mean()), "slips": len(a.pelvis.mount_changes),
        "steps": c.n_truth, "missed": c.n_truth - c.n_matched,
        "extra": c.n_extra, "side_ok": c.side_accuracy, "ic_med_ms": c.ic_median_abs_ms,
        **{k: c.mean_abs[k] for k in ("contact_time_ms", "pelvic_drop_deg", "trunk_lean_deg", "peak_vgrf_bw",
                                       "loading_rate_bw_s", "vertical_oscillation_cm", "braking_mps",
                                       "pelvic_rotation_deg", "pelvis_trunk_rotation_deg", "pelvic_tilt_deg")},
        "analysis_s": time.perf_counter() - t0,
    })
df = pd.DataFrame(rows)
pd.set_option("display.width", 250)
print(df.round(3).to_string(index=False))
ic = np.concatenate(ics)
print(f"\n{len(df)} sessions, {df.steps.sum()} steps: missed {df.missed.sum()}, extra {df.extra.sum()}, "
      f"sides right {100 * (df.side_ok * df.steps).sum() / df.steps.sum():.2f} %")
print(f"initial contact |error|: median {np.median(ic):.2f} ms, 95th percentile {np.percentile(ic, 95):.2f} ms")
print("mean |error| per session (loading rate: relative), mean and worst:")
print(f"steps flagged turning: {df[df.turns == 0].turning.mean():.1%} on straight sessions, "
      f"{df[df.turns > 0].turning.mean():.1%} on sessions with turns; false slips {df.slips.sum()}")
print(df.drop(columns=["seed", "pelvis_hz", "trunk_hz", "spm", "mps", "turns", "steps", "missed", "extra", "turning",
                       "slips"])
      .agg(["mean", "max"]).round(3).to_string())
