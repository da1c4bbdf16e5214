"""Real lower-back recordings of walking (made by others): does stridesense stay quiet?

    python benchmarks/validate_real.py [--data ../shared/data/real]

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
parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"))
args = parser.parse_args()
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
