"""Posture angles of runs that start without standing still: do their changes over the session hold?

    python benchmarks/no_standing.py                     # sim-external, cut at 8, 10 and 12 s
    python benchmarks/no_standing.py --own 20 --from 200 # and the own simulator's report seeds, started mid-run
    python benchmarks/no_standing.py --own 20 --from 100 --no-external   # the tuning seeds only
    python benchmarks/no_standing.py --unlevelled        # tilt and lean not levelled (the figures before)

Without a standing period neutral is the mean running posture, so the
absolute offset of trunk lean, pelvic tilt and drop is unknown by definition;
what must be right is how they change over the session (fatigue, hills,
wander).  Each series is compared with the truth after removing its session
mean (pelvic drop: per side, since a running-posture neutral moves the two
sides' drop in opposite directions).  Printed per session and metric:
``sd`` - the SD of the error after mean removal, deg (step-to-step noise and
wander); ``drift`` - the range of the error's 30-s rolling mean, deg (slow
wander), from 30 s into the run on.

sim-external (../shared/data/sim-external, an outside simulator; each session
starts with 8 s standing and 2 s of transition): the first 8, 10 or 12 s are
cut off (written to a temporary folder) and the rest analysed.  Its truth
has no per-step pelvic tilt, only the session's parameter
(``truth.json``: params.pelvic_tilt_deg), taken as constant: the standing
analyses of its straight sessions read it within 0.1 deg, SD 0.03-0.04.
The standing analyses' own figures (cut_s 0) are printed for reference,
their first 10 s of running left out (the transition into running).
"""

import argparse
import json
import tempfile
import warnings
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from accuracy_cases import accuracy_config, without_start  # noqa: E402

from stridesense.api import analyze  # noqa: E402
from stridesense.models.simulator import simulate_session  # noqa: E402
from stridesense.models.validation import match_steps, posture_wander_deg  # noqa: E402
from stridesense.pipeline import Analyzer  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METRICS = ("trunk_lean_deg", "pelvic_tilt_deg", "pelvic_drop_deg")


def quietly(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def paired(steps: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    pairs = match_steps(steps.ic_s.to_numpy(float), truth.ic_s.to_numpy(float))
    return (steps.iloc[[p[1] for p in pairs]].reset_index(drop=True),
            truth.iloc[[p[0] for p in pairs]].reset_index(drop=True))


def figures(got: pd.DataFrame, ref: pd.DataFrame, t_from_s: float = -np.inf) -> dict:
    """sd and drift of each metric's error after mean removal, over steps from ``t_from_s`` on."""
    out = {}
    keep = got.ic_s.to_numpy() >= t_from_s
    for col in METRICS:
        if col not in ref or ref[col].isna().all():
            continue
        by = got.side.to_numpy()[keep] if col == "pelvic_drop_deg" else None
        sd, drift = posture_wander_deg(got.ic_s.to_numpy()[keep], got[col].to_numpy(float)[keep],
                                       ref[col].to_numpy(float)[keep], groups=by)
        out[col.split("_")[1] + "_sd"], out[col.split("_")[1] + "_drift"] = sd, drift
    return out


def external(cuts: list[float]) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="stridesense-nostanding-") as tmp:
        for d in sorted((SHARED / "sim-external").glob("session*")):
            truth = pd.read_csv(d / "truth_strides.csv")
            truth["pelvic_tilt_deg"] = json.loads((d / "truth.json").read_text())["params"]["pelvic_tilt_deg"]
            whole = quietly(analyze, pelvis=d / "pelvis.csv", trunk=d / "trunk.csv").steps
            g, t = paired(whole, truth)
            t_settled = truth.ic_s.iloc[0] + 10.0
            rows.append({"session": d.name, "cut_s": 0.0, "neutral": g.neutral.iloc[0], "steps": len(g),
                         "turning": g.quality.str.contains("turning").mean(),
                         **figures(g, t, t_settled)})
            for cut in cuts:
                files = without_start(d, Path(tmp), cut)
                steps = quietly(analyze, pelvis=files["pelvis"], trunk=files["trunk"]).steps
                g, t = paired(steps, truth)
                rows.append({"session": d.name, "cut_s": cut, "neutral": g.neutral.iloc[0], "steps": len(g),
                             "turning": g.quality.str.contains("turning").mean(), **figures(g, t)})
    return pd.DataFrame(rows)


def own(n: int, first: int) -> pd.DataFrame:
    rows = []
    for seed in range(first, first + n):
        for wander in (0.0, 3.0):
            cfg = replace(accuracy_config(seed), start_in_motion=True, posture_wander_deg=wander)
            sim = simulate_session(cfg)
            a = Analyzer(mass_kg=sim.session.mass_kg)
            quietly(a.push, sim.session.pelvis, sim.session.trunk)
            quietly(a.flush)
            g, t = paired(a.steps, sim.truth)
            rows.append({"seed": seed, "wander_deg": wander, "turns": cfg.n_turns, "steps": len(g),
                         "neutral": g.neutral.iloc[0], **figures(g, t)})
    return pd.DataFrame(rows)


def show(df: pd.DataFrame, by: str) -> None:
    cols = [c for c in df.columns if c.endswith(("_sd", "_drift"))]
    print(df.round(2).to_string(index=False))
    print("mean / max:")
    print(df.groupby(by)[cols].agg(["mean", "max"]).round(2).to_string())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cuts", default="8,10,12", help="seconds cut off the start of each external session")
    parser.add_argument("--own", type=int, default=0, help="own simulator sessions (seeds), started mid-run")
    parser.add_argument("--from", dest="first", type=int, default=200, help="first seed (tuned on 100-119)")
    parser.add_argument("--no-external", action="store_true")
    parser.add_argument("--unlevelled", action="store_true",
                        help="tilt and lean not levelled on the mean force (as before; compares the figures)")
    opts = parser.parse_args()
    if opts.unlevelled:
        import functools

        import stridesense.pipeline

        stridesense.pipeline.step_rows = functools.partial(stridesense.pipeline.step_rows, level_pitch=False)
    pd.set_option("display.width", 250)
    if not opts.no_external:
        print("sim-external, the start cut off (cut_s 0: the whole recording, standing neutral):")
        show(external([float(c) for c in opts.cuts.split(",")]), "cut_s")
    if opts.own:
        print(f"\nown simulator, seeds {opts.first}-{opts.first + opts.own - 1} started mid-run "
              "(with and without 3 deg SD of real posture wander):")
        show(own(opts.own, opts.first), "wander_deg")
