"""Plotly figures of the reports: per-step traces, activity, distributions, comparisons, trends.

Figures are built here with ``plotly.graph_objects`` and rendered in the
page by plotly.js (inlined once by ``reports.page``).  Plotly's SVG
scatter draws a few thousand points per plot quickly; an hour of running
(about 5,400 steps a side) is drawn as means of consecutive steps instead
(``decimate``), so the page opens in under 2 s on a modest machine without
WebGL, which headless and remote-desktop browsers often lack.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stridesense.models import guidelines as g
from stridesense.models.summary import trusted_mask

MAX_POINTS_PER_SIDE = 700  # above this a side's steps are shown as means of consecutive steps
SIDE_COLOUR = {"L": "#1f77b4", "R": "#d62728"}
SIDE_NAME = {"L": "left", "R": "right"}
ACTIVITY_COLOUR = {"running": "#2ca02c", "walking": "#ff7f0e", "standing": "#7f7f7f", "other": "#c7c7c7"}


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: label, unit, decimals and its guideline band (None: no bound)."""

    column: str
    label: str
    unit: str
    decimals: int
    band: tuple[float | None, float | None] | None = None
    band_label: str = ""
    experimental: bool = False
    from_neutral: bool = False  # an angle from the standing neutral: its band needs one (models.guidelines)


METRICS = [
    MetricInfo("pelvic_drop_deg", "pelvic drop", "deg", 1, (None, g.DROP_HIGH_DEG),
               f"up to {g.DROP_HIGH_DEG:.0f} deg", from_neutral=True),
    MetricInfo("trunk_lean_deg", "trunk lean (forward)", "deg", 1, g.LEAN_BAND_DEG,
               f"{g.LEAN_BAND_DEG[0]:.0f}-{g.LEAN_BAND_DEG[1]:.0f} deg forward", from_neutral=True),
    MetricInfo("pelvic_tilt_deg", "pelvic tilt (anterior)", "deg", 1),
    MetricInfo("pelvis_trunk_rotation_deg", "pelvis-trunk counter-rotation", "deg", 1),
    MetricInfo("pelvic_rotation_deg", "pelvic rotation", "deg", 1),
    MetricInfo("cadence_spm", "cadence", "spm", 0, (g.CADENCE_LOW_SPM, None), f"{g.CADENCE_LOW_SPM:.0f} spm or more"),
    MetricInfo("contact_time_ms", "contact time", "ms", 0, (None, g.CONTACT_LONG_MS),
               f"up to {g.CONTACT_LONG_MS:.0f} ms"),
    MetricInfo("flight_time_ms", "flight time", "ms", 0),
    MetricInfo("peak_vgrf_bw", "peak vertical force", "BW", 2, (None, g.PEAK_FORCE_HIGH_BW),
               f"up to {g.PEAK_FORCE_HIGH_BW:.0f} BW"),
    MetricInfo("loading_rate_bw_s", "loading rate (experimental)", "BW/s", 0, experimental=True),
    MetricInfo("peak_acc_g", "peak acceleration", "g", 2),
    MetricInfo("vertical_oscillation_cm", "vertical oscillation", "cm", 1),
    MetricInfo("braking_mps", "braking", "m/s", 2, (None, g.BRAKING_HIGH_MPS), f"up to {g.BRAKING_HIGH_MPS} m/s"),
]
METRIC_BY_COLUMN = {m.column: m for m in METRICS}
# Angles whose zero is neutral: from standing, or else the mean running posture (lean and tilt then read near 0).
FROM_NEUTRAL = ("pelvic_drop_deg", "trunk_lean_deg", "pelvic_tilt_deg")
RUNNING_POSTURE_NOTE = "from the running posture"


def shown_metrics(steps: pd.DataFrame) -> list[MetricInfo]:
    """The metrics of METRICS that this table has values for."""
    return [m for m in METRICS if m.column in steps and steps[m.column].notna().any()]


def decimation_factor(n: int, max_points: int = MAX_POINTS_PER_SIDE) -> int:
    """Steps per point so that n steps give at most ``max_points`` points."""
    return max(1, math.ceil(n / max_points))


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS_PER_SIDE):
    """Means of consecutive points in bins of k so that at most ``max_points`` remain.

    Returns (x means, y means ignoring NaN, k); k = 1 returns the points unchanged.
    """
    n = x.size
    k = decimation_factor(n, max_points)
    if k == 1:
        return x, y, 1
    m = n // k * k
    xs = [x[:m].reshape(-1, k).mean(axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin of NaN only (a missing metric) stays NaN
        ys = [np.nanmean(y[:m].reshape(-1, k), axis=1)]
        if m < n:
            xs.append([x[m:].mean()])
            ys.append([np.nanmean(y[m:])])
    return np.concatenate(xs), np.concatenate(ys), k


def _band_rect(m: MetricInfo, values: np.ndarray) -> tuple[float, float] | None:
    """The guideline zone to shade, closed with the data's range where the guideline is one-sided."""
    if m.band is None:
        return None
    finite = values[np.isfinite(values)]
    lo_data = float(np.percentile(finite, 1)) if finite.size else 0.0
    hi_data = float(np.percentile(finite, 99)) if finite.size else 1.0
    lo, hi = m.band
    lo = min(lo_data, hi if hi is not None else lo_data) if lo is None else lo
    hi = max(hi_data, lo) if hi is None else hi
    if m.column == "pelvic_drop_deg":
        lo = min(0.0, lo)
    return lo, hi


def _shade_band(fig: go.Figure, m: MetricInfo, values: np.ndarray, row: int) -> None:
    """Shade the metric's guideline zone on its subplot (nothing when it has none)."""
    rect = _band_rect(m, values)
    if rect is not None:
        fig.add_hrect(y0=rect[0], y1=rect[1], fillcolor="#2ca02c", opacity=0.15, line_width=0, layer="below",
                      exclude_empty_subplots=False, row=row, col=1)


def band_title(m: MetricInfo, neutral_known: bool = True) -> str:
    """A subplot's title: the metric, and its guideline (or why none is drawn)."""
    title = f"{m.label} ({m.unit})"
    if m.band and m.from_neutral and not neutral_known:
        return title + " · no guideline band: no standing neutral in this session"
    return title + (f" · guideline {m.band_label}" if m.band else "")


def step_traces_figure(steps: pd.DataFrame, metrics: list[MetricInfo] | None = None,
                       neutral_known: bool = True) -> go.Figure:
    """Each metric per step over session time (min), left and right apart, guideline band shaded.

    Steps with quality remarks are drawn apart (open grey-edged markers, or
    dotted lines when decimated) from the trusted ones.  Without a standing
    neutral (``neutral_known`` False) the angles from neutral get no band:
    their zero is the running posture, which the guideline does not judge.
    """
    metrics = metrics or shown_metrics(steps)
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.012,
                        subplot_titles=[band_title(m, neutral_known) for m in metrics])
    t_min = steps["ic_s"].to_numpy(float) / 60.0
    trusted = trusted_mask(steps["quality"]) if len(steps) else np.zeros(0, bool)
    quality = steps["quality"].fillna("ok").astype(str).to_numpy()
    for row, m in enumerate(metrics, start=1):
        values = steps[m.column].to_numpy(float)
        if neutral_known or not m.from_neutral:
            _shade_band(fig, m, values, row)
        for side in ("L", "R"):
            for good in (True, False):
                sel = (steps["side"].to_numpy() == side) & (trusted == good)
                if not sel.any():
                    continue
                x, y, k = decimate(t_min[sel], values[sel])
                name = f"{SIDE_NAME[side]}" + ("" if good else ", with quality remarks")
                # meta lets the page redraw this trace step by step when zoomed in (replay.js)
                common = dict(x=np.round(x, 4), y=np.round(y, m.decimals + 1), name=name, legendgroup=name,
                              showlegend=row == 1, meta={"col": m.column, "side": side, "good": bool(good), "k": k})
                marker = dict(color=SIDE_COLOUR[side], size=5 if good else 7,
                              symbol="circle" if good else "x-thin-open",
                              line=dict(width=1.5 if not good else 0, color=SIDE_COLOUR[side]),
                              opacity=0.85 if good else 0.9)
                if k == 1:
                    fig.add_trace(go.Scatter(
                        mode="markers", **common, customdata=np.round(steps["ic_s"].to_numpy(float)[sel], 3),
                        text=quality[sel],
                        hovertemplate=f"%{{x:.2f}} min, {SIDE_NAME[side]}: %{{y}} {m.unit}<br>%{{text}}<extra></extra>",
                        marker=marker), row=row, col=1)
                else:
                    fig.add_trace(go.Scatter(
                        mode="lines", **common, customdata=np.round(x * 60, 3),
                        hovertemplate=f"%{{x:.2f}} min, {SIDE_NAME[side]}: mean of {k} steps %{{y}} {m.unit}"
                                      "<extra></extra>",
                        line=dict(color=SIDE_COLOUR[side], width=1.2, dash="solid" if good else "dot"),
                        marker=marker), row=row, col=1)
        fig.update_yaxes(fixedrange=True, row=row, col=1)
    fig.update_xaxes(title_text="session time (min)", row=len(metrics), col=1)
    fig.update_annotations(font_size=12, xanchor="left", x=0)
    fig.update_layout(height=150 * len(metrics) + 80, margin=dict(l=60, r=20, t=40, b=40), dragmode="zoom",
                      hovermode="closest", legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.4),
                      template="plotly_white", uirevision="keep")
    return fig


def activity_figure(activity: list, cues: list, duration_s: float) -> go.Figure:
    """Activity timeline (running bouts, walking, standing, other) with the cues as marks (min)."""
    fig = go.Figure()
    for label, colour in ACTIVITY_COLOUR.items():
        bouts = [(a, b) for a, b, lab in activity if lab == label]
        if not bouts:
            continue
        start = np.array([a for a, _ in bouts]) / 60
        length = np.array([b - a for a, b in bouts]) / 60
        fig.add_trace(go.Bar(y=["activity"] * len(bouts), x=np.round(length, 4), base=np.round(start, 4),
                             orientation="h", name=label, marker_color=colour,
                             hovertemplate=f"{label}: %{{base:.2f}}-%{{x:.2f}} min long<extra></extra>"))
    if cues:
        fig.add_trace(go.Scatter(x=[c["time_s"] / 60 for c in cues], y=["cues"] * len(cues), mode="markers",
                                 name="cues", marker=dict(symbol="triangle-down", size=11, color="#9467bd"),
                                 customdata=[c["time_s"] for c in cues],
                                 hovertemplate="%{x:.2f} min: cue<extra></extra>"))
    fig.update_layout(height=170, margin=dict(l=60, r=20, t=10, b=40), barmode="overlay", template="plotly_white",
                      xaxis=dict(title="session time (min)", range=[0, max(duration_s, 1) / 60]),
                      yaxis=dict(fixedrange=True), legend=dict(orientation="h", y=1.05, yanchor="bottom"))
    return fig


def distribution_figure(groups: dict[str, pd.DataFrame], metrics: list[MetricInfo], colours: dict[str, str],
                        bins: int = 30, cols: int = 3) -> go.Figure:
    """Histograms of each metric, one overlaid bar trace per group (sides, or sessions), trusted steps only."""
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{m.label} ({m.unit})" for m in metrics],
                        vertical_spacing=0.35 / max(rows, 1), horizontal_spacing=0.06)
    for i, m in enumerate(metrics):
        r, c = divmod(i, cols)
        values = {name: df[m.column].to_numpy(float) for name, df in groups.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()]) if values else np.zeros(0)
        if finite.size < 2:
            continue
        lo, hi = np.percentile(finite, [0.5, 99.5])
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        for name, v in values.items():
            counts, _ = np.histogram(v[np.isfinite(v)], edges)
            share = counts / max(counts.sum(), 1) * 100
            fig.add_trace(go.Bar(x=np.round((edges[:-1] + edges[1:]) / 2, 4), y=np.round(share, 2), name=name,
                                 legendgroup=name, showlegend=i == 0, marker_color=colours[name], opacity=0.55,
                                 hovertemplate=f"{name}: %{{x}} {m.unit}: %{{y}} % of steps<extra></extra>"),
                          row=r + 1, col=c + 1)
    fig.update_layout(barmode="overlay", bargap=0, height=230 * rows + 60, template="plotly_white",
                      margin=dict(l=40, r=20, t=50, b=30), legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    fig.update_annotations(font_size=12)
    fig.update_yaxes(title_text="% of steps", col=1)
    return fig


def minute_means(steps: pd.DataFrame, axis_min: np.ndarray, column: str, bin_min: float = 1.0):
    """Means of trusted steps per ``bin_min`` of the given axis: (bin centres, means)."""
    sel = trusted_mask(steps["quality"]) & np.isfinite(steps[column].to_numpy(float))
    if not sel.any():
        return np.zeros(0), np.zeros(0)
    b = np.floor(axis_min[sel] / bin_min)
    s = pd.Series(steps[column].to_numpy(float)[sel]).groupby(b).mean()
    return (s.index.to_numpy() + 0.5) * bin_min, s.to_numpy()


def comparison_figure(sessions: list[tuple[str, pd.DataFrame, np.ndarray]], metrics: list[MetricInfo],
                      colours: list[str], axis_label: str, bin_size: float, neutral_known: bool = True) -> go.Figure:
    """Each metric over the aligned axis, one line per session (means of trusted steps per bin).

    ``neutral_known``: both sessions have a standing neutral (else no band on the angles from neutral).
    """
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.015,
                        subplot_titles=[band_title(m, neutral_known) for m in metrics])
    for row, m in enumerate(metrics, start=1):
        for (name, steps, axis), colour in zip(sessions, colours):
            x, y = minute_means(steps, axis, m.column, bin_size)
            fig.add_trace(go.Scatter(x=np.round(x, 3), y=np.round(y, m.decimals + 1), name=name, legendgroup=name,
                                     showlegend=row == 1, mode="lines+markers", marker=dict(size=4),
                                     line=dict(color=colour)), row=row, col=1)
        if neutral_known or not m.from_neutral:
            _shade_band(fig, m, np.concatenate([s[m.column].to_numpy(float) for _, s, _ in sessions]), row)
        fig.update_yaxes(fixedrange=True, row=row, col=1)
    fig.update_xaxes(title_text=axis_label, row=len(metrics), col=1)
    fig.update_annotations(font_size=12, xanchor="left", x=0)
    fig.update_layout(height=150 * len(metrics) + 80, margin=dict(l=60, r=20, t=40, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.4), hovermode="x unified")
    return fig


def trends_figure(per_session: pd.DataFrame, metrics: list[MetricInfo]) -> go.Figure:
    """Per-session means of each metric over dates, left and right, with the weekly mean.

    ``per_session``: columns date, side (L, R) and the metric columns.
    """
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        subplot_titles=[f"{m.label} ({m.unit})" + (f" · guideline {m.band_label}" if m.band else "")
                                        for m in metrics])
    for row, m in enumerate(metrics, start=1):
        for side in ("L", "R"):
            part = per_session[per_session["side"] == side].sort_values("date")
            fig.add_trace(go.Scatter(x=part["date"], y=part[m.column].round(m.decimals + 1), mode="markers+lines",
                                     name=f"{SIDE_NAME[side]} (per session)", legendgroup=side, showlegend=row == 1,
                                     line=dict(color=SIDE_COLOUR[side], width=1), marker=dict(size=6)),
                          row=row, col=1)
        weekly = per_session.groupby(per_session["date"].dt.to_period("W-SUN").dt.start_time)[m.column].mean()
        fig.add_trace(go.Scatter(x=weekly.index + pd.Timedelta(days=3.5), y=weekly.round(m.decimals + 1).to_numpy(),
                                 mode="lines", name="weekly mean (both sides)", legendgroup="week",
                                 showlegend=row == 1, line=dict(color="#444", width=2, dash="dash")), row=row, col=1)
        _shade_band(fig, m, per_session[m.column].to_numpy(float), row)
    fig.update_annotations(font_size=12, xanchor="left", x=0)
    fig.update_layout(height=150 * len(metrics) + 80, margin=dict(l=60, r=20, t=40, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.3))
    return fig


def weekly_load_figure(weekly: pd.DataFrame, flagged_weeks: set) -> go.Figure:
    """Weekly running time (min) as bars; weeks up more than 10 % on the week before in red."""
    colours = ["#d62728" if w in flagged_weeks else "#1f77b4" for w in weekly.index]
    fig = go.Figure(go.Bar(x=weekly.index, y=(weekly["running_time_s"] / 60).round(1), marker_color=colours,
                           customdata=weekly["running_time_s_change_pct"].round(0),
                           hovertemplate="week of %{x|%Y-%m-%d}: %{y} min running, %{customdata} % on the week "
                                         "before<extra></extra>", name="running time"))
    if "distance_m" in weekly and weekly["distance_m"].gt(0).any():
        fig.add_trace(go.Scatter(x=weekly.index, y=(weekly["distance_m"] / 1000).round(2), yaxis="y2",
                                 name="distance (km)", mode="lines+markers"))
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="km"))
    fig.update_layout(height=280, template="plotly_white", margin=dict(l=60, r=40, t=20, b=40),
                      yaxis_title="running time (min)", xaxis_title="week (Monday)", showlegend=False)
    return fig
