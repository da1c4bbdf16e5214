"""A coach's picture of a session: the key metrics per step over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stridesense.models.guidelines import LEAN_BAND_DEG


def plot_session(steps: pd.DataFrame, summary=None, path: str | Path = "session.png") -> Path:
    """Write a PNG: pelvic drop (L/R), trunk lean (with the 8-10 degree band), peak force, cadence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    t_min = (steps["ic_s"] - steps["ic_s"].min()) / 60.0
    fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True, constrained_layout=True)
    panels = [
        ("pelvic_drop_deg", "pelvic drop (deg)\nswing side lower"),
        ("trunk_lean_deg", "trunk lean (deg)\nforward"),
        ("peak_vgrf_bw", "peak vertical\nforce (BW)"),
        ("cadence_spm", "cadence (spm)"),
    ]
    for ax, (col, label) in zip(axes, panels):
        values = steps[col].astype(float)
        if values.isna().all():
            reason = summary.missing_reasons.get(col, "no data") if summary is not None else "no data"
            ax.text(0.5, 0.5, reason, transform=ax.transAxes, ha="center", va="center", color="grey")
        elif col == "pelvic_drop_deg":
            for side, colour in (("L", "tab:blue"), ("R", "tab:red")):
                m = (steps["side"] == side).to_numpy()
                ax.plot(t_min[m], values[m], ".", ms=3, color=colour, label=f"{side} stance")
            ax.legend(loc="upper right", fontsize=8)
        else:
            ax.plot(t_min, values, ".", ms=3, color="k")
            # The band judges lean from standing neutral: without one, lean is relative to the running posture.
            if col == "trunk_lean_deg" and steps.get("neutral", pd.Series("standing", index=steps.index)).eq(
                    "standing").all():
                ax.axhspan(*LEAN_BAND_DEG, color="tab:green", alpha=0.15, label="8-10 deg")
                ax.legend(loc="upper right", fontsize=8)
        bad = ~steps["quality"].astype(str).eq("ok").to_numpy()
        if bad.any() and not values.isna().all():
            ax.plot(t_min[bad], values[bad], "x", ms=3, color="orange", label="quality remark")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (min)")
    title = f"{len(steps)} running steps"
    if summary is not None and np.isfinite(summary.mean("pelvic_drop_deg")):
        title += f", pelvic drop {summary.mean('pelvic_drop_deg'):.1f} deg"
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
