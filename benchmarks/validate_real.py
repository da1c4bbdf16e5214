"""Real lower-back recordings (made by others) and external simulated sessions: does the analysis hold?

    python benchmarks/validate_real.py [--data ../shared/data/real] [--external ../shared/data/sim-external]

Running (sisfall-dev: real jogging, no reference; sim-external: another
simulator, with truth): trials analysed, the share of 10-s jogging windows
whose steps match the signal's own cadence (autocorrelation of |acc|, within
5 %), the share of steps carrying each quality remark, `turning` on straight
running (heading from the gyroscope alone, not the analysis' filter), left/right
alternation within bouts, bouts per trial, and how many steps fall outside
plausible ranges (pelvic drop 0-15 deg, contact time 120-400 ms, peak force
1.5-4.5 BW, cadence 140-220 spm); on sim-external also the axial rotation
against its truth (pelvis_trunk_rotation_deg per step, pelvic_rotation_deg
against the sine of the session's pelvis_yaw_amp_deg).  Cite SisFall (Sucerquia et al. 2017,
Sensors 17:198) with figures on it.

Walking:

For each recording with a `.reference.json` beside it (reference walking
bouts and initial contacts from foot sensors or motion capture), prints:
how much of the reference walking time the activity classifier calls walking
(recall), how much it calls walking outside the reference bouts (the
references cover only the walking their systems saw), the seconds it calls
running (target 0), and how many running steps the whole pipeline reports
(target 0). The data stays outside the project; read it from shared/.
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from stridesense.api import analyze
from stridesense.errors import StridesenseError
from stridesense.imu.activity import classify_activity
from stridesense.streaming.generic_csv import read_sensor_csv

parser = argparse.ArgumentParser()
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
parser.add_argument("--data", default=str(SHARED / "real"))
parser.add_argument("--external", default=str(SHARED / "sim-external"))
args = parser.parse_args()

import pandas as pd  # noqa: E402

PLAUSIBLE = {"pelvic_drop_deg": (0.0, 15.0), "contact_time_ms": (120.0, 400.0), "peak_vgrf_bw": (1.5, 4.5),
             "cadence_spm": (140.0, 220.0)}


def signal_cadence(t, acc, fs, win_s=10.0):
    """(start, cadence spm or NaN) of 10-s windows from the autocorrelation of |acc| (clear jogging only)."""
    mag = np.linalg.norm(acc, axis=1)
    out = []
    for t0 in np.arange(t[0], t[-1] - win_s + 1e-9, win_s):
        x = mag[(t >= t0) & (t < t0 + win_s)]
        x = x - x.mean()
        if x.std() < 0.5:
            out.append((t0, np.nan))
            continue
        ac = np.correlate(x, x, "full")[len(x) - 1:] / (x.var() * len(x))
        lo, hi = int(0.25 * fs), int(0.5 * fs)
        k = lo + int(np.argmax(ac[lo:hi]))
        cad = 60 * fs / k
        out.append((t0, cad if ac[k] >= 0.5 and 130 <= cad <= 220 else np.nan))
    return out


def heading_deg(t, acc, gyr):
    """Heading from the gyroscope alone (independent of the analysis' filter): its rate about the mean specific
    force (gravity over the whole recording), less the median of its 1-s means (straight running dominates), integrated."""
    up = acc.mean(axis=0)
    rate = gyr @ (up / np.linalg.norm(up))
    fs = 1.0 / np.median(np.diff(t))
    n1 = int(fs)
    rate = rate - np.median(rate[:rate.size // n1 * n1].reshape(-1, n1).mean(axis=1))
    return np.degrees(np.cumsum(rate) / fs)


def turning_on_straight(steps, t, heading, window_s=2.0, straight_deg=4.0):
    """(steps, of them `turning`) where the heading moved less than ``straight_deg`` between the ``window_s``
    before and after the contact (about 1 degree a stride: straight running)."""
    mean = lambda a, b: heading[(t >= a) & (t < b)].mean()
    ic = steps.ic_s.to_numpy()
    change = np.array([mean(x, x + window_s) - mean(x - window_s, x) for x in ic])
    straight = np.abs(change) < straight_deg
    return int(straight.sum()), int((straight & steps.quality.str.contains("turning", regex=False).to_numpy()).sum())


def remark_shares(quality: pd.Series) -> dict:
    q = quality.fillna("ok").astype(str).str.split(";").explode()
    return (q.value_counts() / len(quality)).to_dict()


def running_report(name, runs, straight=None):
    """runs: list of (label, steps DataFrame or None, error, cadence windows or None); straight: summed
    (steps on straight running, of them `turning`)."""
    analysed = [r for r in runs if r[1] is not None]
    windows = covered = 0
    for _, steps, _, ref in runs:
        if ref is None:
            continue
        ic = np.sort(steps.ic_s.to_numpy()) if steps is not None else np.array([])
        for t0, cad in ref:
            if not np.isfinite(cad):
                continue
            windows += 1
            inside = ic[(ic >= t0) & (ic < t0 + 10.0)]
            if len(inside) >= 3:
                got = (len(inside) - 1) / (inside[-1] - inside[0]) * 60
                covered += abs(got - cad) <= 0.05 * cad and len(inside) >= 0.8 * cad / 6
    print(f"\n{name}: {len(analysed)}/{len(runs)} analysed" + (f"; {covered}/{windows} jogging windows covered "
          f"({covered / max(windows, 1):.0%})" if windows else ""))
    for label, _, err, _ in runs:
        if err:
            print(f"  refused {label}: {err}")
    if not analysed:
        return
    all_steps = pd.concat([r[1] for r in analysed], ignore_index=True)
    shares = remark_shares(all_steps["quality"])
    print("  steps with each remark: " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(shares.items())))
    if straight is not None and straight[0]:
        print(f"  `turning` on straight running (heading from the gyroscope alone moved < 4 deg in the 2 s either side): "
              f"{straight[1]}/{straight[0]} steps ({straight[1] / straight[0]:.1%})")
    alt = []
    for _, steps, _, _ in analysed:
        same_bout = np.diff(steps.bout.to_numpy()) == 0
        close = np.diff(steps.ic_s.to_numpy()) < 0.6  # consecutive steps, none missed between
        alt.append((steps.side.to_numpy()[1:] != steps.side.to_numpy()[:-1])[same_bout & close])
    alt = np.concatenate(alt)
    print(f"  L/R alternation between consecutive steps: {alt.mean():.1%}; bouts per trial "
          f"{np.mean([r[1].bout.nunique() for r in analysed]):.1f}; steps {len(all_steps)}")
    out = [f"{c} {((all_steps[c] < lo) | (all_steps[c] > hi)).mean():.1%} outside {lo:g}-{hi:g}"
           for c, (lo, hi) in PLAUSIBLE.items() if all_steps[c].notna().any()]
    print("  " + "; ".join(out))
    steady = ~all_steps["quality"].astype(str).str.contains("pelvis_leaning", regex=False)
    d = all_steps.loc[steady, "pelvic_drop_deg"]
    if d.notna().any():
        print(f"  pelvic_drop_deg without pelvis_leaning ({steady.mean():.0%} of steps): {((d < 0) | (d > 15)).mean():.1%}"
              f" outside 0-15, 5-50-95th percentiles {' / '.join(f'{v:.1f}' for v in d.quantile([.05, .5, .95]))} deg")
    med = all_steps[list(PLAUSIBLE)].median()
    print("  medians: " + ", ".join(f"{c} {v:.1f}" for c, v in med.items()))


def analyse_quietly(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return analyze(**kw).steps, ""
        except StridesenseError as e:
            return None, str(e).split(": ", 1)[-1][:140]


def add_straight(total, steps, d):
    if steps is None:
        return total
    got = turning_on_straight(steps, d[:, 0], heading_deg(d[:, 0], d[:, 1:4], d[:, 4:7]))
    return total[0] + got[0], total[1] + got[1]


sis = sorted((Path(args.data) / "sisfall-dev").glob("D0*.csv"))
runs = []
straight = (0, 0)
for f in sis:
    steps, err = analyse_quietly(pelvis=f)
    d = pd.read_csv(f).to_numpy()
    runs.append((f.stem, steps, err, signal_cadence(d[:, 0], d[:, 1:4], 200.0)))
    straight = add_straight(straight, steps, d)
if runs:
    running_report("sisfall-dev (real jogging, waist IMU)", runs, straight)
ext = []
straight = (0, 0)
for d in sorted(Path(args.external).glob("session*")):
    steps, err = analyse_quietly(pelvis=d / "pelvis.csv", trunk=d / "trunk.csv")
    ext.append((d.name, steps, err, None))
    straight = add_straight(straight, steps, pd.read_csv(d / "pelvis.csv").to_numpy())
if ext:
    running_report("sim-external (outside simulator)", ext, straight)
    print("  axial rotation against truth (steps matched by initial contact within 60 ms):")
    for (name, steps, _, _), d in zip(ext, sorted(Path(args.external).glob("session*"))):
        if steps is None:
            continue
        truth = pd.read_csv(d / "truth_strides.csv")
        amp = json.loads((d / "truth.json").read_text())["params"]["pelvis_yaw_amp_deg"]
        j = np.abs(steps.ic_s.to_numpy()[None, :] - truth.ic_s.to_numpy()[:, None]).argmin(axis=1)
        ok = np.abs(steps.ic_s.to_numpy()[j] - truth.ic_s.to_numpy()) < 0.06
        err = steps.pelvis_trunk_rotation_deg.to_numpy()[j[ok]] - truth.pelvis_trunk_rotation_deg.to_numpy()[ok]
        print(f"    {name}: pelvis_trunk_rotation_deg error median {np.nanmedian(err):+.2f}, mean |error| "
              f"{np.nanmean(np.abs(err)):.2f} deg (truth median {truth.pelvis_trunk_rotation_deg.median():.1f}); "
              f"pelvic_rotation_deg median {steps.pelvic_rotation_deg.median():.2f} (truth sine: {2 * amp:g})")
print()
files = sorted(Path(args.data).glob("*.reference.json"))
if not files:
    raise SystemExit(f"no recordings with references in {args.data}")

print(f"{'recording':32s} {'length s':>8s} {'ref walk s':>10s} {'walk recall':>11s} {'walk outside':>12s} "
      f"{'running s':>9s} {'running steps':>13s}")
totals = {"running_s": 0.0, "steps": 0}
for ref_path in files:
    name = ref_path.name.replace(".reference.json", "")
    ref = json.loads(ref_path.read_text())
    data = read_sensor_csv(ref_path.with_name(name + ".csv"), "pelvis")
    act = classify_activity(data.time_s, data.acc_mps2, data.sampling_rate_hz)
    t = np.arange(data.time_s[0], data.time_s[-1], 0.1)
    label = act.label_at(t)
    in_ref = np.zeros(t.size, bool)
    for a, b in ref["walking_bouts_s"]:
        in_ref |= (t >= a) & (t < b)
    recall = float(np.mean(label[in_ref] == "walking")) if in_ref.any() else float("nan")
    outside = float(np.sum((label == "walking") & ~in_ref) * 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            steps = len(analyze(pelvis=data).steps)
        except StridesenseError:
            steps = 0  # "no running steps found": the right answer for walking
    running_s = act.time_s("running")
    totals["running_s"] += running_s
    totals["steps"] += steps
    print(f"{name:32s} {data.duration_s:8.1f} {in_ref.sum() * 0.1:10.1f} {100 * recall:10.0f}% {outside:11.1f}s "
          f"{running_s:9.1f} {steps:13d}")
print(f"\nin all: {totals['running_s']:.1f} s labelled running, {totals['steps']} running steps reported "
      "(target 0 and 0)")
