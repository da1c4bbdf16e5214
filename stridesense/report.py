"""Terminal rendering of a session summary (rich tables; plain text when piped)."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

# (column, label with unit, decimals)
SHOWN = [
    ("cadence_spm", "cadence spm", 0),
    ("contact_time_ms", "contact ms", 0),
    ("flight_time_ms", "flight ms", 0),
    ("pelvic_drop_deg", "pelvic drop deg", 1),
    ("trunk_lean_deg", "trunk lean deg", 1),
    ("pelvic_tilt_deg", "pelvic tilt deg", 1),
    ("peak_vgrf_bw", "peak force BW", 2),
    ("peak_acc_g", "peak acc g", 2),
    ("vertical_oscillation_cm", "vert. osc. cm", 1),
    ("braking_mps", "braking m/s", 2),
    ("pelvic_rotation_deg", "pelvic rot. deg", 1),
    ("pelvis_trunk_rotation_deg", "counter-rot. deg", 1),
]


def _fmt(x: float, decimals: int) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{decimals}f}"


def render_summary(summary, console: Console) -> None:
    """Print a session summary: per side, asymmetry, fatigue, flags, empty columns."""
    table = Table(title=f"Session summary: {summary.n_steps} running steps in {summary.n_bouts} bout(s), "
                        f"{summary.running_time_s / 60:.1f} min running", title_justify="left")
    table.add_column("metric", no_wrap=True)
    for col in ("left", "right", "all (SD)", "asym. %", "1st -> last 5th"):
        table.add_column(col, justify="right", no_wrap=True)
    for col, label, d in SHOWN:
        if col not in summary.stats.index:
            continue
        if col in summary.missing_reasons:
            table.add_row(label, "-", "-", f"({summary.missing_reasons[col]})", "-", "-")
            continue
        s = summary.stats.loc[col]
        fat = summary.fatigue.loc[col]
        table.add_row(
            label,
            _fmt(s["L_mean"], d),
            _fmt(s["R_mean"], d),
            f"{_fmt(s['all_mean'], d)} ({_fmt(s['all_sd'], d)})",
            _fmt(summary.asymmetry_pct.get(col, np.nan), 0),
            f"{_fmt(fat['first_fifth'], d)} -> {_fmt(fat['last_fifth'], d)}",
        )
    console.print(table)
    if summary.activity:
        a = summary.activity
        console.print(f"activity: running {a.get('running_s', 0) / 60:.1f} min, walking {a.get('walking_s', 0) / 60:.1f} "
                      f"min, standing {a.get('standing_s', 0) / 60:.1f} min, other {a.get('other_s', 0) / 60:.1f} min; "
                      f"{a.get('stops', 0)} stop(s) between running bouts")
    if "loading_rate_bw_s" in summary.missing_reasons:
        console.print(f"loading rate: in the step table only ({summary.missing_reasons['loading_rate_bw_s']})")
    untrusted = summary.n_steps - summary.n_trusted
    remarks = {k: v for k, v in summary.quality_counts.items() if k != "ok"}
    if remarks:
        console.print("quality remarks: " + ", ".join(f"{k} {v}" for k, v in sorted(remarks.items()))
                      + (f" ({untrusted} steps left out of the means)" if untrusted else ""))
    if summary.flags:
        flags = Table(title="Flags against guidelines", title_justify="left")
        flags.add_column("", no_wrap=True)
        flags.add_column("finding", ratio=3)
        flags.add_column("threshold", ratio=1)
        flags.add_column("source", ratio=1)
        sources: dict[str, int] = {}
        for f in summary.flags:
            number = sources.setdefault(f.source, len(sources) + 1)
            short = f.source.split(": ")[0]
            flags.add_row("!" if f.severity == "warning" else "i", f.message, f.threshold, f"[{number}] {short}")
        console.print(flags)
        for source, number in sources.items():
            console.print(f"[{number}] {source}", highlight=False, markup=False)
