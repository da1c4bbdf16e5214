"""Compare an estimated per-step table with ground truth (simulator or reference).

Steps are paired by initial contact: each true contact takes the nearest
estimated one within ``tolerance_s``; unpaired estimates are extra steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stridesense.imu.consts import METRIC_COLUMNS


@dataclass
class Comparison:
    """Errors of an estimated step table against the truth.

    Attributes
    ----------
    n_truth, n_matched, n_extra
        True steps, true steps found, estimated steps with no true partner.
    side_accuracy
        Share of matched steps with the right L/R.
    ic_abs_ms
        |IC error| of each matched step, ms.
    errors
        Estimated minus true, per matched step and metric (DataFrame).
    mean_abs
        Metric -> mean |error| (loading rate: mean |relative error|).
    """

    n_truth: int
    n_matched: int
    n_extra: int
    side_accuracy: float
    ic_abs_ms: np.ndarray
    errors: pd.DataFrame
    truth: pd.DataFrame
    estimate: pd.DataFrame
    mean_abs: dict = field(default_factory=dict)

    @property
    def ic_median_abs_ms(self) -> float:
        return float(np.median(self.ic_abs_ms)) if self.ic_abs_ms.size else float("nan")

    @property
    def ic_p95_abs_ms(self) -> float:
        return float(np.percentile(self.ic_abs_ms, 95)) if self.ic_abs_ms.size else float("nan")


def match_steps(est_ic_s: np.ndarray, true_ic_s: np.ndarray, tolerance_s: float = 0.06) -> list[tuple[int, int]]:
    """(true index, estimated index) pairs, nearest contact within the tolerance, one-to-one."""
    pairs, used = [], set()
    j = np.searchsorted(est_ic_s, true_ic_s)
    for i, t in enumerate(true_ic_s):
        cands = [x for x in (j[i] - 1, j[i]) if 0 <= x < est_ic_s.size and x not in used]
        if not cands:
            continue
        best = min(cands, key=lambda x: abs(est_ic_s[x] - t))
        if abs(est_ic_s[best] - t) <= tolerance_s:
            pairs.append((i, best))
            used.add(best)
    return pairs


def compare_to_truth(estimate: pd.DataFrame, truth: pd.DataFrame, tolerance_s: float = 0.06) -> Comparison:
    """Pair steps and compute every metric's error."""
    pairs = match_steps(estimate["ic_s"].to_numpy(float), truth["ic_s"].to_numpy(float), tolerance_s)
    ti = [p[0] for p in pairs]
    ei = [p[1] for p in pairs]
    t = truth.iloc[ti].reset_index(drop=True)
    e = estimate.iloc[ei].reset_index(drop=True)
    cols = ["ic_s", "to_s", *METRIC_COLUMNS]
    err = e[cols].astype(float) - t[cols].astype(float)
    mean_abs = {c: float(err[c].abs().mean()) for c in cols}
    rel = err["loading_rate_bw_s"] / t["loading_rate_bw_s"].astype(float)
    mean_abs["loading_rate_bw_s"] = float(rel.abs().mean())
    return Comparison(
        n_truth=len(truth),
        n_matched=len(pairs),
        n_extra=len(estimate) - len(pairs),
        side_accuracy=float((e["side"] == t["side"]).mean()) if pairs else float("nan"),
        ic_abs_ms=np.abs(err["ic_s"].to_numpy()) * 1e3,
        errors=err,
        truth=t,
        estimate=e,
        mean_abs=mean_abs,
    )


def posture_wander_deg(t_s: np.ndarray, estimate: np.ndarray, truth: np.ndarray, *, groups: np.ndarray | None = None,
                       window_s: float = 30.0) -> tuple[float, float]:
    """How far a posture series' changes over a session stray from the truth's: (sd, drift), degrees.

    Each series' mean is removed first (per group, e.g. per side for pelvic
    drop): without a standing neutral the absolute offset is unknown, the
    changes are what count.  ``sd``: SD of the error that remains.
    ``drift``: range of its ``window_s`` rolling mean (trailing), from a full
    window after the first step on.  Steps where either value is missing are
    left out.
    """
    t_s, est, tru = (np.asarray(x, float) for x in (t_s, estimate, truth))
    ok = np.isfinite(est) & np.isfinite(tru) & np.isfinite(t_s)
    keys = np.zeros(t_s.size, int) if groups is None else pd.factorize(np.asarray(groups))[0]
    err = np.full(t_s.size, np.nan)
    for g in np.unique(keys[ok]):
        m = ok & (keys == g)
        err[m] = (est[m] - est[m].mean()) - (tru[m] - tru[m].mean())
    if ok.sum() < 2:
        return float("nan"), float("nan")
    order = np.argsort(t_s[ok])
    t, e = t_s[ok][order], err[ok][order]
    rolling = pd.Series(e, index=pd.to_timedelta(t - t[0], unit="s")).rolling(f"{window_s}s").mean().to_numpy()
    full = rolling[t >= t[0] + window_s]
    return float(e.std()), float(np.ptp(full)) if full.size else float("nan")
