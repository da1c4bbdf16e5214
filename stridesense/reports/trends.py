"""A runner's metrics across sessions and weeks, and the weekly load with the 10 % rule.

Reads the library (``stridesense.library``): the catalogue for dates and
running time, and every session's step table at once (pyarrow dataset) for
the per-session, per-side means of trusted steps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stridesense.errors import InputError
from stridesense.library import Library
from stridesense.models.summary import trusted_mask
from stridesense.models.training_load import WEEKLY_INCREASE_PCT, load_flags, weekly_load
from stridesense.reports import figures
from stridesense.reports.data import standing_neutral
from stridesense.reports.page import esc, figure_block, fmt, render_page, table
from stridesense.reports.session import flags_html, write_html


def per_session_means(sessions: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Means of trusted steps per session and side: columns session_id, side, date, metric columns.

    Angles read from neutral (trunk lean, pelvic drop and tilt) count only from steps whose neutral came from
    standing: relative to a session's own running posture they read near 0, and a trend across sessions
    would mix the two references.
    """
    metrics = [m.column for m in figures.METRICS if m.column in steps]
    trusted = steps[trusted_mask(steps["quality"])].copy()
    not_standing = ~standing_neutral(trusted)
    for column in figures.FROM_NEUTRAL:
        if column in trusted:
            trusted.loc[not_standing, column] = float("nan")
    means = trusted.groupby(["session_id", "side"])[metrics].mean().reset_index()
    dates = sessions.set_index("session_id")["date"]
    means["date"] = means["session_id"].map(dates)
    return means.dropna(subset=["date"])


def build_trends_report(runner: str, sessions: pd.DataFrame, steps: pd.DataFrame) -> str:
    """The trends page (HTML text) from catalogue rows and the sessions' steps."""
    sessions = sessions.copy()
    sessions["date"] = pd.to_datetime(sessions["started"], utc=True, errors="coerce", format="ISO8601")
    sessions["date"] = sessions["date"].dt.tz_localize(None)
    dated = sessions.dropna(subset=["date"])
    load_cols = ["date", "running_time_s"] + (["distance_m"] if dated["distance_m"].notna().any() else [])
    weekly = weekly_load(dated[load_cols].fillna({"distance_m": 0.0})) if len(dated) else pd.DataFrame()
    flags = load_flags(weekly) if len(weekly) else []
    flagged = set()
    for c in ("running_time_s_change_pct", "distance_m_change_pct"):
        if c in weekly:
            flagged |= set(weekly.index[weekly[c] > WEEKLY_INCREASE_PCT])
    means = per_session_means(sessions, steps)
    # A metric with no session mean (lean and drop when no session had a standing neutral) gets no plot, nor band.
    metrics = [m for m in figures.shown_metrics(steps) if m.column in means and means[m.column].notna().any()]
    rows = [[r.started[:16].replace("T", " ") if r.started else "-", Path(r.folder).name,
             f"{r.running_time_s / 60:.1f}", "-" if pd.isna(r.distance_m) else f"{r.distance_m / 1000:.2f}",
             r.n_steps] for r in sessions.itertuples()]
    week_rows = [[f"{w:%Y-%m-%d}", f"{row.running_time_s / 60:.1f}", int(row.sessions),
                  fmt(row.running_time_s_change_pct, 0, signed=True)] for w, row in weekly.iterrows()]
    n_posture = int(steps.loc[~standing_neutral(steps), "session_id"].nunique()) if len(steps) else 0
    skipped = f": {n_posture} session(s) without one left out of them" if n_posture else ""
    title = f"Trends: {runner}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{len(sessions)} session(s) in the library'
        + (f", {dated['date'].min():%Y-%m-%d} to {dated['date'].max():%Y-%m-%d}" if len(dated) else "") + "</p>",
        "<h2>Weekly load</h2>",
        '<p class="note">Running time per week (Monday to Sunday); red: more than 10 % up on the week before '
        "(the common 10 % rule: a caution, not a limit).</p>",
        figure_block(figures.weekly_load_figure(weekly, flagged), "fig-load") if len(weekly) else
        "<p>No dated sessions.</p>",
        table(["week of", "running min", "sessions", "change %"], week_rows) if week_rows else "",
        flags_html(flags) if flags else "<p>No week rose by more than 10 %.</p>",
        "<h2>Metrics across sessions</h2>",
        '<p class="note">Each point is one session\'s mean over its trusted steps, left and right apart; the dashed '
        "line is the weekly mean; the green band is the guideline. Trunk lean, pelvic drop and tilt count only "
        "from sessions whose neutral came from standing (without one they are measured from that run's own "
        f"running posture){skipped}.</p>",
        figure_block(figures.trends_figure(means, metrics), "fig-trends") if len(means) and metrics else
        "<p>No steps to show.</p>",
        "<h2>Sessions</h2>", table(["started", "session", "running min", "km", "steps"], rows),
    ]
    return render_page(title, "\n".join(body))


def trends_report(runner: str, out: str | Path, *, data_dir: str | Path | None = None) -> Path:
    """Write a runner's trends page from the library.

    Parameters
    ----------
    runner
        The runner's name as recorded in the sessions.
    out
        The HTML file to write.
    data_dir
        The library's data folder (default: ``$STRIDESENSE_DATA`` or the user's data folder).
    """
    with Library(data_dir) as lib:
        sessions = lib.sessions(runner)
        if sessions.empty:
            known = sorted(set(lib.sessions()["runner"]))
            raise InputError(f"no sessions of runner {runner!r} in the library at {lib.data_dir}"
                             + (f" (runners: {', '.join(known)})" if known else
                                "; add some with `stridesense library add`"))
        steps = lib.steps(sessions["session_id"].tolist(),
                          columns=["side", "quality", "neutral", *[m.column for m in figures.METRICS]])
    return write_html(build_trends_report(runner, sessions, steps), out)
