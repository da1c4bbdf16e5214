"""Contact time and peak vertical force against a force treadmill, per speed and slope.

    python benchmarks/forceplate.py [--data ../shared/data/real/alcantara-dev]

One runner's sacral accelerometer on a force-measuring treadmill (Alcantara,
Edwards, Millet & Grabowski 2022, PeerJ 10:e12752; development trials in
shared/data, read its README).  The trials are laid end to end on one clock
(4.96 s each, medio-lateral axis 0, no standing period) and analysed as a
user would (``stridesense analyze --pelvis FILE --mass-kg 76.8``); contacts
are matched to the force plate's within 80 ms (contacts cut by a trial's edge
left out).  Printed per speed and per slope: contacts found, initial-contact
bias, contact time bias and RMSE, peak vertical force bias and RMSE, steps
with a negative flight time and steps whose contact time was left empty.
Targets (issue 15): contacts >= 95 %, contact time RMSE <= 20 ms, peak force
RMSE <= 0.15 BW.  The data stays outside the project.

``--loco``: leave-one-condition-out over speeds and slopes.  For each
condition held out, the toe-off's constants (low-pass cut-off, edge levels;
models/contact_time.py) that give the least contact-time RMSE on the other
conditions are used on it, and the spring-mass band of models/impact.py is
re-drawn from the other conditions' force (2.5-97.5 %); printed beside the
shipped constants' error on the same condition, then pooled over the held-out
parts, and the same leaving one trial out.  A method that holds gives about
the same figures both ways.  Where the peak force's remaining error lies,
and the corrections tried on it: benchmarks/impact_limits.py.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

TRIAL_S = 4.96
MATCH_S = 0.08
MASS_KG = 76.8


def laid_end_to_end(data: Path, trials: list[int]) -> pd.DataFrame:
    """The trials' samples on one clock, as the judging check builds them."""
    parts = []
    for k, i in enumerate(trials):
        x = pd.read_csv(data / f"trial{i:02d}_imu.csv")
        x["acc_y"] = 0.0
        x["time_s"] = x.time_s + k * TRIAL_S
        parts.append(x[["time_s", "acc_x", "acc_y", "acc_z"]])
    return pd.concat(parts, ignore_index=True)


def matched(data: Path, steps: pd.DataFrame) -> pd.DataFrame:
    """One row per force-plate contact (edges left out): the analysis' step matched to it, if any."""
    info = pd.read_csv(data / "trials.csv")
    order = {t: k for k, t in enumerate(info.trial)}
    ref = pd.read_csv(data / "reference_events.csv")
    ref = ref[~ref.partial_at_trial_edge.astype(bool)].merge(info[["trial", "speed_m_s", "slope_deg"]], on="trial")
    ref["ic_true"] = ref.ic_s + ref.trial.map(order) * TRIAL_S
    got_ic = steps.ic_s.to_numpy()
    j = np.abs(got_ic[None, :] - ref.ic_true.to_numpy()[:, None]).argmin(axis=1)
    ok = np.abs(got_ic[j] - ref.ic_true.to_numpy()) < MATCH_S
    got = steps.iloc[j].reset_index(drop=True)
    out = ref.reset_index(drop=True)
    out["found"] = ok
    for col in ("ic_s", "contact_time_ms", "flight_time_ms", "peak_vgrf_bw", "quality"):
        out[col] = np.where(ok, got[col], np.nan) if col != "quality" else np.where(ok, got[col], "")
    return out


def figures(m: pd.DataFrame) -> dict:
    f = m[m.found]
    rms = lambda x: float(np.sqrt(np.nanmean(np.square(x)))) if np.isfinite(x).any() else float("nan")
    ct_err = f.contact_time_ms - 1000 * f.contact_s
    pk_err = f.peak_vgrf_bw - f.peak_grf_bw
    return {
        "found": f"{len(f)}/{len(m)}",
        "ic_bias_ms": 1000 * float(np.mean(f.ic_s - f.ic_true)),
        "ct_bias_ms": float(np.nanmean(ct_err)),
        "ct_rmse_ms": rms(ct_err),
        "ct_empty": int(f.contact_time_ms.isna().sum()),
        "peak_bias_bw": float(np.nanmean(pk_err)),
        "peak_rmse_bw": rms(pk_err),
    }


def report(m: pd.DataFrame, steps: pd.DataFrame) -> None:
    rows = [("all", figures(m))]
    rows += [(f"speed {v:.2f} m/s", figures(g)) for v, g in m.groupby("speed_m_s")]
    rows += [(f"slope {v:+.0f} deg", figures(g)) for v, g in m.groupby("slope_deg")]
    print(f"{'condition':16s} {'found':>8s} {'IC bias':>8s} {'CT bias':>8s} {'CT RMSE':>8s} {'CT empty':>8s} "
          f"{'peak bias':>9s} {'peak RMSE':>9s}")
    for name, r in rows:
        print(f"{name:16s} {r['found']:>8s} {r['ic_bias_ms']:+7.1f}ms {r['ct_bias_ms']:+7.1f}ms {r['ct_rmse_ms']:7.1f}ms "
              f"{r['ct_empty']:8d} {r['peak_bias_bw']:+8.2f}BW {r['peak_rmse_bw']:8.2f}BW")
    neg = int((steps.flight_time_ms < 0).sum())
    print(f"\nsteps reported {len(steps)}; negative flight time {neg}; contact time left empty "
          f"{int(steps.contact_time_ms.isna().sum())}")
    if "impact_model" in steps:
        print("impact model:", steps.impact_model.value_counts().to_dict())


def analysed(pel):
    """The analysis of ``pel`` (a pelvis SensorData) as an Analyzer, its signals kept for a look inside."""
    from stridesense.pipeline import Analyzer

    an = Analyzer(MASS_KG)
    an.pelvis.adopt(pel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        an.feed(pel)
        an.feed_last()
    return an


def loco(data: Path, pel, trials: list[int]) -> None:
    """Leave-one-condition-out check of the constants (see the module's docstring)."""
    from stridesense.imu.consts import GRAVITY_MPS2 as G
    from stridesense.imu.events import lowpass
    from stridesense.models import contact_time as ct
    from stridesense.models import impact

    an = analysed(pel)
    steps = an.steps
    t, fz = an.pelvis.time_s, an.pelvis.f_world[:, 2].astype(float)
    m = matched(data, steps)
    m = m[m.found].reset_index(drop=True)
    nxt = m.ic_s + steps.set_index("ic_s").loc[m.ic_s, "step_time_s"].to_numpy()
    grid = [(fc, hi, lo) for fc in (4.0, 5.0, 6.0, 8.0, 10.0) for hi in (0.5, 0.6, 0.7) for lo in (0.2, 0.3, 0.35, 0.4)
            if lo < hi]
    err = {}
    for fc, hi, lo in grid:
        x = lowpass(fz, fc, pel.sampling_rate_hz) / G
        to = ct.toe_off_s(t, x, m.ic_s.to_numpy(), nxt.to_numpy(), cutoff_hz=fc, edge=(hi, lo))
        err[(fc, hi, lo)] = (to - m.ic_s - m.contact_s).to_numpy() * 1000
    shipped = (ct.STANCE_CUTOFF_HZ, ct.EDGE_HI, ct.EDGE_LO)
    rms = lambda e: float(np.sqrt(np.nanmean(np.square(e))))
    step_s = (nxt - m.ic_s).to_numpy()
    # The step's own impulse (models/impact.py), over the analysis' contacts in order.
    all_ic = np.sort(steps.ic_s.to_numpy())
    k = np.searchsorted(all_ic, m.ic_s.to_numpy())
    stride_end = all_ic[np.minimum(k + 2, all_ic.size - 1)]  # across a bout's end: out of range, factor 1
    k_step = impact.step_impulse_factor(t, fz, (m.ic_s.to_numpy(), nxt.to_numpy()), (m.ic_s.to_numpy(), stride_end))
    ratio = m.peak_grf_bw.to_numpy() / impact.spring_mass_peak_bw(m.contact_s.to_numpy(), step_s, k_step)
    print(f"{'held out':16s} {'chosen on the others':>24s} {'CT RMSE':>8s} {'shipped':>8s}  {'band':>11s} "
          f"{'peak RMSE':>9s} {'shipped':>8s}")
    tc = err[shipped] / 1000 + m.contact_s.to_numpy()  # the shipped toe-off's contact time
    pelvis_peak = m.peak_vgrf_bw.to_numpy()  # the shipped analysis' choice
    sm = impact.spring_mass_peak_bw(tc, step_s, k_step)
    pelvis_acc = (steps.set_index("ic_s").loc[m.ic_s, "impact_model"] == impact.PELVIS_ACC).to_numpy()
    truth = m.peak_grf_bw.to_numpy()

    def held_out(out: np.ndarray) -> tuple:
        """Toe-off constants and spring-mass band chosen without ``out``: (constants, CT error ms, peak, band)."""
        best = min(grid, key=lambda g: rms(err[g][~out]))
        lo_b, hi_b = np.percentile(ratio[~out], [2.5, 97.5])
        # Pelvis peaks are known only where the shipped band kept them: one the re-drawn band leaves out
        # gets the spring-mass value; a shipped spring-mass value does not depend on the band.
        left_out = pelvis_acc & ~((pelvis_peak / sm >= lo_b) & (pelvis_peak / sm <= hi_b))
        redrawn = np.where(left_out, sm, pelvis_peak)
        return best, err[best], redrawn, (lo_b, hi_b)

    pooled = {}
    for col, unit in (("speed_m_s", "m/s"), ("slope_deg", "deg")):
        ct_ho, pk_ho = np.full(len(m), np.nan), np.full(len(m), np.nan)
        for v in sorted(m[col].unique()):
            out = (m[col] == v).to_numpy()
            best, ct_err, redrawn, (lo_b, hi_b) = held_out(out)
            ct_ho[out], pk_ho[out] = ct_err[out], redrawn[out]
            print(f"{col.split('_')[0]} {v:+.2f} {unit:4s} {str(best):>24s} {rms(ct_err[out]):7.1f}ms "
                  f"{rms(err[shipped][out]):7.1f}ms  {lo_b:.2f}-{hi_b:.2f} {rms((redrawn - truth)[out]):8.2f}BW "
                  f"{rms((pelvis_peak - truth)[out]):7.2f}BW")
        pooled[f"leave one {col.split('_')[0]} out"] = (ct_ho, pk_ho)
    ct_ho, pk_ho = np.full(len(m), np.nan), np.full(len(m), np.nan)
    for tr in m.trial.unique():
        out = (m.trial == tr).to_numpy()
        _, ct_err, redrawn, _ = held_out(out)
        ct_ho[out], pk_ho[out] = ct_err[out], redrawn[out]
    pooled["leave one trial out"] = (ct_ho, pk_ho)
    print(f"\npooled over the held-out parts (shipped: contact time {rms(err[shipped]):.1f} ms, "
          f"peak force {rms(pelvis_peak - truth):.3f} BW):")
    for name, (ct_ho, pk_ho) in pooled.items():
        print(f"  {name:22s} contact time RMSE {rms(ct_ho):5.1f} ms   peak force RMSE {rms(pk_ho - truth):.3f} BW")
    print("The spring-mass peak fits nothing; corrections tried on it, held out: benchmarks/impact_limits.py")


def main() -> None:
    from stridesense.api import analyze
    from stridesense.imu.data import SensorData

    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "alcantara-dev"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--loco", action="store_true", help="leave-one-condition-out check of the constants")
    a = ap.parse_args()
    if not (a.data / "trials.csv").exists():
        raise SystemExit(f"no force-treadmill trials in {a.data}")
    trials = pd.read_csv(a.data / "trials.csv").trial.tolist()
    x = laid_end_to_end(a.data, trials)
    pel = SensorData(x.time_s.to_numpy(), x[["acc_x", "acc_y", "acc_z"]].to_numpy(), None, "pelvis", "alcantara-dev")
    if a.loco:
        loco(a.data, pel, trials)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        steps = analyze(pelvis=pel, mass_kg=MASS_KG).steps
    print(__doc__.splitlines()[0])
    print(f"{len(trials)} trials of one runner, laid end to end\n")
    report(matched(a.data, steps), steps)


if __name__ == "__main__":
    main()
