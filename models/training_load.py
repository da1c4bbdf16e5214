"""Training load across a runner's sessions: weekly totals and the 10 % rule.

The "10 % rule" (increase weekly running by no more than about 10 %) is a
common guideline; its evidence is weak: a graded programme built on it did not
reduce injuries in novice runners (Buist et al. 2008, Am J Sports Med 36:33).
We flag increases above 10 % in running time or distance as information.
"""

from __future__ import annotations

import pandas as pd

from stridesense.errors import InputError
from stridesense.models.guidelines import Flag

WEEKLY_INCREASE_PCT = 10.0
BUIST_2008 = ("Buist et al. 2008, Am J Sports Med 36:33: the common 10 % rule; a graded programme built on it did "
              "not reduce injuries in novice runners, so this is a caution, not a limit")


def weekly_load(sessions: pd.DataFrame) -> pd.DataFrame:
    """Weekly totals (ISO weeks) and week-on-week change.

    Parameters
    ----------
    sessions
        One row per session: ``date`` (date or timestamp), ``running_time_s``,
        optionally ``distance_m``.

    Returns
    -------
    DataFrame indexed by ISO week start (Monday): running_time_s, distance_m
    (if given), sessions, and *_change_pct against the previous week (weeks
    with no running count as 0).
    """
    if "date" not in sessions or "running_time_s" not in sessions:
        raise InputError("sessions need a 'date' and a 'running_time_s' column")
    df = sessions.copy()
    df["date"] = pd.to_datetime(df["date"])
    week = df["date"].dt.to_period("W-SUN").dt.start_time
    cols = ["running_time_s"] + (["distance_m"] if "distance_m" in df else [])
    weekly = df.groupby(week)[cols].sum()
    weekly["sessions"] = df.groupby(week).size()
    if len(weekly):
        full = pd.date_range(weekly.index.min(), weekly.index.max(), freq="7D")
        weekly = weekly.reindex(full, fill_value=0)
    weekly.index.name = "week"
    for c in cols:
        prev = weekly[c].shift(1)
        weekly[f"{c}_change_pct"] = (100 * (weekly[c] - prev) / prev).where(prev > 0)
    return weekly


def load_flags(weekly: pd.DataFrame) -> list[Flag]:
    """A flag for every week whose running time or distance rose more than 10 %."""
    flags = []
    for week, row in weekly.iterrows():
        for c, label in (("running_time_s", "running time"), ("distance_m", "distance")):
            change = row.get(f"{c}_change_pct")
            if change is not None and pd.notna(change) and change > WEEKLY_INCREASE_PCT:
                flags.append(Flag(f"weekly_{c}", "info",
                                  f"week of {week:%Y-%m-%d}: {label} up {change:.0f} % on the week before",
                                  float(change), f"> {WEEKLY_INCREASE_PCT:.0f} % a week", BUIST_2008))
    return flags
