"""Session summary: per side and overall, asymmetry, fatigue trend, flags.

Means are over *trusted* steps: steps whose quality names none of
``UNTRUSTED`` (a gap, a saturated sensor, an unsure event, a sensor that
was moving).  Informative remarks (``turning``, ``realigned``,
``side_uncertain``) keep a step in.  Without a standing neutral (the
``neutral`` column) lean, obliquity and tilt have no zero to be judged
against: ``neutral_known`` is False and their guideline flags stay off.  Counts of
every remark are reported so a coach sees what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stridesense.imu.consts import METRIC_COLUMNS
from stridesense.models.impact import LOADING_RATE_EXPERIMENTAL

# `trunk_missing` is not here: such a step's trunk values are empty (so out of the trunk means by
# themselves) and its pelvis values are sound (docs/metrics.md: "left out of trunk means").
UNTRUSTED = ("gap", "saturated", "low_confidence", "sensor_moved")
FIFTH = 0.2


def trusted_mask(quality: pd.Series) -> np.ndarray:
    """True for steps whose quality remarks leave their numbers usable."""
    q = quality.fillna("").astype(str)
    bad = np.zeros(len(q), dtype=bool)
    for reason in UNTRUSTED:
        bad |= q.str.contains(reason, regex=False).to_numpy()
    return ~bad


def asymmetry_index(left: float, right: float) -> float:
    """``100 * (R - L) / ((R + L) / 2)`` in %; NaN when undefined."""
    mean = (left + right) / 2
    if not np.isfinite(mean) or abs(mean) < 1e-12:
        return float("nan")
    return float(100.0 * (right - left) / mean)


@dataclass
class SessionSummary:
    """What a session's steps add up to.

    Attributes
    ----------
    stats
        Index: metric; columns ``{scope}_{stat}`` for scope in L, R, all and
        stat in mean, sd, n (trusted steps).
    asymmetry_pct
        Metric -> asymmetry index, %.
    fatigue
        Index: metric; columns first_fifth, last_fifth, change, change_pct.
    n_steps, n_trusted
        Steps in the table, and steps used for the statistics.
    quality_counts
        Remark -> number of steps carrying it.
    running_time_s, n_bouts
        Time spent in running steps, and running bouts.
    missing_reasons
        Column -> why it is empty for this session.
    flags
        Guideline flags (models.guidelines.Flag).
    neutral_known
        True when every step's neutral came from standing still (the ``neutral`` column).
    """

    stats: pd.DataFrame
    asymmetry_pct: dict
    fatigue: pd.DataFrame
    n_steps: int
    n_trusted: int
    quality_counts: dict
    running_time_s: float
    n_bouts: int
    missing_reasons: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    neutral_known: bool = True
    activity: dict = field(default_factory=dict)  # seconds standing / walking / running / other, stops

    def mean(self, metric: str, scope: str = "all") -> float:
        """Mean of a metric over trusted steps of one side (L, R) or all."""
        return float(self.stats.loc[metric, f"{scope}_mean"])

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (metric, scope) with mean, sd, n, asymmetry and fatigue."""
        rows = []
        for metric in self.stats.index:
            for scope in ("L", "R", "all"):
                rows.append({
                    "metric": metric,
                    "scope": scope,
                    "mean": self.stats.loc[metric, f"{scope}_mean"],
                    "sd": self.stats.loc[metric, f"{scope}_sd"],
                    "n": int(self.stats.loc[metric, f"{scope}_n"]),
                    "asymmetry_pct": self.asymmetry_pct.get(metric, np.nan) if scope == "all" else np.nan,
                    "first_fifth": self.fatigue.loc[metric, "first_fifth"] if scope == "all" else np.nan,
                    "last_fifth": self.fatigue.loc[metric, "last_fifth"] if scope == "all" else np.nan,
                    "missing_reason": self.missing_reasons.get(metric, ""),
                })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {
            "n_steps": self.n_steps,
            "n_trusted": self.n_trusted,
            "running_time_s": self.running_time_s,
            "n_bouts": self.n_bouts,
            "quality_counts": self.quality_counts,
            "activity": self.activity,
            "missing_reasons": self.missing_reasons,
            "metrics": self.to_frame().replace({np.nan: None}).to_dict(orient="records"),
            "flags": [f.to_dict() for f in self.flags],
        }


def summarize(steps: pd.DataFrame, *, missing_reasons: dict | None = None, with_flags: bool = True) -> SessionSummary:
    """Summarise a per-step table (METRICS.md columns).

    Parameters
    ----------
    steps
        The per-step table.
    missing_reasons
        Column -> why it is empty (no trunk sensor, no gyroscope).
    with_flags
        Evaluate the guideline flags (models.guidelines).
    """
    trusted = steps[trusted_mask(steps["quality"])] if len(steps) else steps
    # Loading rate is not summarised (models.impact.LOADING_RATE_EXPERIMENTAL): the table keeps it.
    metrics = [m for m in METRIC_COLUMNS if m in steps.columns and m != "loading_rate_bw_s"]
    missing_reasons = {"loading_rate_bw_s": LOADING_RATE_EXPERIMENTAL, **(missing_reasons or {})}
    stats = {}
    for scope, part in (("L", trusted[trusted["side"] == "L"]), ("R", trusted[trusted["side"] == "R"]),
                        ("all", trusted)):
        values = part[metrics].astype(float)
        stats[f"{scope}_mean"] = values.mean()
        stats[f"{scope}_sd"] = values.std(ddof=1)
        stats[f"{scope}_n"] = values.notna().sum()
    stats_df = pd.DataFrame(stats).reindex(metrics)
    asym = {m: asymmetry_index(stats_df.loc[m, "L_mean"], stats_df.loc[m, "R_mean"]) for m in metrics}
    fatigue = _fatigue(trusted, metrics)
    counts: dict[str, int] = {}
    for q in steps["quality"].fillna("ok").astype(str):
        for reason in q.split(";"):
            counts[reason] = counts.get(reason, 0) + 1
    n_bouts = int(steps["bout"].nunique()) if "bout" in steps and len(steps) else int(len(steps) > 0)
    summary = SessionSummary(
        stats=stats_df,
        asymmetry_pct=asym,
        fatigue=fatigue,
        n_steps=len(steps),
        n_trusted=len(trusted),
        quality_counts=counts,
        running_time_s=float(steps["step_time_s"].sum()) if len(steps) else 0.0,
        n_bouts=n_bouts,
        missing_reasons=dict(missing_reasons or {}),
        neutral_known=bool(steps["neutral"].eq("standing").all()) if "neutral" in steps and len(steps) else True,
    )
    if with_flags:
        from stridesense.models.guidelines import evaluate

        summary.flags = evaluate(summary)
    return summary


def _fatigue(steps: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean of the first and the last fifth of the run (by time), and the change."""
    out = pd.DataFrame(index=metrics, columns=["first_fifth", "last_fifth", "change", "change_pct"], dtype=float)
    if len(steps) < 10:
        return out
    t = steps["ic_s"].to_numpy(float)
    t0, t1 = t.min(), t.max()
    first = steps[t <= t0 + FIFTH * (t1 - t0)]
    last = steps[t >= t1 - FIFTH * (t1 - t0)]
    a, b = first[metrics].astype(float).mean(), last[metrics].astype(float).mean()
    out["first_fifth"], out["last_fifth"], out["change"] = a, b, b - a
    usable = np.isfinite(a) & (a.abs() > 1e-12)
    out["change_pct"] = (100 * (b - a) / a.abs()).where(usable)
    return out
