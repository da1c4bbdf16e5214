"""Two sessions side by side, aligned by running time (or by distance when both sessions know it).

Running time leaves stops and walking breaks out (``data.running_time_s``),
so minute 10 of one run meets minute 10 of the other whatever their breaks.
With a distance for both sessions (``meta.distance_m`` in the manifest), the
axis is distance, spread over each session's running time in proportion
(constant speed is assumed: no per-step distance is measured).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stridesense.errors import InputError
from stridesense.models.summary import trusted_mask
from stridesense.reports import figures
from stridesense.reports.data import SessionData, load_session_data, running_time_s, with_summary
from stridesense.reports.page import esc, figure_block, fmt, render_page, table
from stridesense.reports.session import flags_html, neutral_known, notices_html, write_html

COLOURS = ["#1f77b4", "#ff7f0e"]
NICE_BINS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def alignment_axis(data: SessionData, align: str) -> np.ndarray:
    """Each step's position on the shared axis: running minutes, or km when aligned by distance."""
    t = running_time_s(data.steps)
    if align == "distance":
        total = float(data.steps["step_time_s"].astype(float).fillna(0).sum())
        return t / max(total, 1e-9) * data.distance_m / 1000.0
    return t / 60.0


def choose_alignment(a: SessionData, b: SessionData, align: str) -> str:
    """"time" or "distance" ("auto": distance when both sessions know theirs)."""
    if align not in ("auto", "time", "distance"):
        raise InputError(f"--align must be auto, time or distance, not {align!r}")
    both = a.distance_m is not None and b.distance_m is not None
    if align == "distance" and not both:
        raise InputError("cannot align by distance: a session's manifest has no meta.distance_m; use --align time")
    return "distance" if align == "distance" or (align == "auto" and both) else "time"


def bin_size(extent: float, max_bins: int = 60) -> float:
    """A round bin width giving at most ``max_bins`` bins over ``extent``."""
    return next((b for b in NICE_BINS if extent / b <= max_bins), NICE_BINS[-1])


def compare_rows(a: SessionData, b: SessionData) -> list[list]:
    """Metric rows: each session's left, right, all, asymmetry, and the change of the mean (B - A)."""
    rows = []
    both_standing = neutral_known(a) and neutral_known(b)
    for m in figures.METRICS:
        if m.column not in a.summary.stats.index or m.column not in b.summary.stats.index:
            continue
        sa, sb = a.summary.stats.loc[m.column], b.summary.stats.loc[m.column]
        d = m.decimals
        # Angles from two different zeros (a standing neutral, a running posture) do not subtract.
        change = (fmt(sb["all_mean"] - sa["all_mean"], d, signed=True)
                  if both_standing or m.column not in figures.FROM_NEUTRAL else "- (no common zero)")
        label = f"{m.label} ({m.unit})"
        if not both_standing and m.column in figures.FROM_NEUTRAL:
            label += " · " + " and ".join(x for x, d in (("A", a), ("B", b)) if not neutral_known(d)) + \
                " " + figures.RUNNING_POSTURE_NOTE
        rows.append([label,
                     f"{fmt(sa['L_mean'], d)} / {fmt(sa['R_mean'], d)}", fmt(sa["all_mean"], d),
                     fmt(a.summary.asymmetry_pct.get(m.column), 0, signed=True),
                     f"{fmt(sb['L_mean'], d)} / {fmt(sb['R_mean'], d)}", fmt(sb["all_mean"], d),
                     fmt(b.summary.asymmetry_pct.get(m.column), 0, signed=True), change])
    return rows


DISTANCE_NOTE = ("Each session's distance is spread over its running time in proportion: constant speed is "
                 "assumed (no per-step distance is measured), so a faster or slower stretch, a hill or distance "
                 "walked in a break shifts where its steps are placed; the ends of the runs line up, their middles "
                 "only roughly.")


def posture_note(a: SessionData, b: SessionData, names: list[str]) -> str:
    """Why lean, drop and tilt are not compared across these sessions as values."""
    without = [n for n, d in zip(names, (a, b)) if not neutral_known(d)]
    return (f"No standing period in {' and '.join(without)}: trunk lean, pelvic drop and tilt there are measured from "
            "that run's own mean running posture, not from upright, so they are not compared as values across the "
            "sessions (no change given, no guideline band); their course within each run still reads.")


def build_compare_report(a: SessionData, b: SessionData, align: str = "auto") -> str:
    """The comparison page (HTML text)."""
    a, b = with_summary(a), with_summary(b)
    align = choose_alignment(a, b, align)
    names = [f"A: {a.label}", f"B: {b.label}"]
    if a.label == b.label:
        names = [f"A: {a.label} ({a.folder.name})", f"B: {b.label} ({b.folder.name})"]
    axes = [alignment_axis(a, align), alignment_axis(b, align)]
    extent = max(float(ax.max()) if ax.size else 0.0 for ax in axes)
    size = bin_size(extent)
    unit = "km" if align == "distance" else "min"
    axis_label = "distance (km)" if align == "distance" else "running time (min, stops left out)"
    metrics = [m for m in figures.shown_metrics(a.steps) if m in figures.shown_metrics(b.steps)]
    title = f"Comparison: {a.label} and {b.label}"
    facts = [[n, d.folder.name, d.started or "-", f"{d.summary.running_time_s / 60:.1f}",
              "-" if d.distance_m is None else f"{d.distance_m / 1000:.2f}", d.summary.n_steps, d.summary.n_trusted]
             for n, d in zip(names, (a, b))]
    body = [
        f"<h1>{esc(title)}</h1>",
        table(["", "session", "started", "running min", "km", "steps", "steps without doubt"], facts),
        *(f"<h3>{esc(n)}</h3>{notices_html(d)}" for n, d in zip(names, (a, b)) if notices_html(d)),
        "<h2>Side by side</h2>",
        table(["metric", "A left / right", "A all", "A asym. %", "B left / right", "B all", "B asym. %",
               "change B − A"], compare_rows(a, b)),
        "<h2>Over the run</h2>",
        f'<p class="note">Aligned by {esc(axis_label)}; each point is the mean of the trusted steps (both sides) in '
        f"{size:g} {unit}. Drag to zoom in, double-click to zoom out.</p>",
        (f'<p class="note" id="distance-note">{esc(DISTANCE_NOTE)}</p>' if align == "distance" else ""),
        ("" if neutral_known(a) and neutral_known(b) else
         f'<p class="note" id="running-posture-note">{esc(posture_note(a, b, names))}</p>'),
        figure_block(figures.comparison_figure([(names[0], a.steps, axes[0]), (names[1], b.steps, axes[1])],
                                               metrics, COLOURS, axis_label, size,
                                               neutral_known(a) and neutral_known(b)),
                     "fig-compare"),
        "<h2>Distributions</h2>",
        figure_block(figures.distribution_figure(
            {names[0]: a.steps[trusted_mask(a.steps["quality"])], names[1]: b.steps[trusted_mask(b.steps["quality"])]},
            metrics, dict(zip(names, COLOURS))), "fig-compare-dist"),
        f"<h2>Flags of {esc(names[0])}</h2>", flags_html(a.summary.flags, neutral_known(a)),
        f"<h2>Flags of {esc(names[1])}</h2>", flags_html(b.summary.flags, neutral_known(b)),
    ]
    return render_page(title, "\n".join(body))


def compare_report(a: str | Path, b: str | Path, out: str | Path, *, align: str = "auto",
                   mass_kg: float | None = None) -> Path:
    """Analyse two session folders and write their comparison page.

    Parameters
    ----------
    a, b
        Session folders (A is shown first: "before").
    out
        The HTML file to write.
    align
        "auto", "time" or "distance".
    mass_kg
        Body mass for both, kg (default: each session's, or 70).
    """
    da, db = load_session_data(a, mass_kg=mass_kg), load_session_data(b, mass_kg=mass_kg)
    return write_html(build_compare_report(da, db, align), out)
