"""The live run's terminal view (rich): what a runner or a coach glances at.

One screen, redrawn a few times a second from a
:class:`~stridesense.streaming.live.LiveState`: each metric now (mean of the
last 10 trusted steps; pelvic drop per stance side), its change over the
last minute and a sparkline of it, each sensor's link and how its neutral
(upright) posture was found, and the cues: how they sound, the last ones
given, what is paused.
"""

from __future__ import annotations

import math
import time

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from stridesense.models.cues import untrusted_for

NOW_STEPS = 10
SPARK = "▁▂▃▄▅▆▇█"

# (label, column, unit, format, stance side or None, sensor)
ROWS = [
    ("cadence", "cadence_spm", "steps/min", "{:.0f}", None, "pelvis"),
    ("contact time", "contact_time_ms", "ms", "{:.0f}", None, "pelvis"),
    ("pelvic drop L stance", "pelvic_drop_deg", "deg", "{:.1f}", "L", "pelvis"),
    ("pelvic drop R stance", "pelvic_drop_deg", "deg", "{:.1f}", "R", "pelvis"),
    ("trunk lean", "trunk_lean_deg", "deg", "{:.1f}", None, "trunk"),
    ("impact", "peak_vgrf_bw", "BW", "{:.2f}", None, "pelvis"),
]


def _values(rows: list[dict], column: str, side: str | None, sensor: str) -> tuple[np.ndarray, np.ndarray]:
    t, v = [], []
    for r in rows:
        value = r.get(column)
        if value is None or not np.isfinite(value) or (side and r.get("side") != side):
            continue
        if untrusted_for(r.get("quality", ""), sensor):
            continue
        t.append(r["ic_s"])
        v.append(value)
    return np.array(t, dtype=float), np.array(v, dtype=float)


def _spark(t: np.ndarray, v: np.ndarray, t_now: float) -> str:
    """Means of the last minute's six 10-s slices, as bars scaled to their own range."""
    means = [v[(t > t_now - 60 + 10 * k) & (t <= t_now - 50 + 10 * k)] for k in range(6)]
    means = [m.mean() if m.size else np.nan for m in means]
    finite = [m for m in means if np.isfinite(m)]
    if len(finite) < 2:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo if hi - lo > 1e-9 else 1.0
    return "".join(" " if not np.isfinite(m) else SPARK[int(round((m - lo) / span * (len(SPARK) - 1)))]
                   for m in means)


def metric_table(state) -> Table:
    """Each metric now, its change over the last minute, and how it went."""
    rows = list(state.recent)
    t_now = rows[-1]["ic_s"] if rows else 0.0
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("metric")
    table.add_column("now", justify="right")
    table.add_column("unit")
    table.add_column("1-min change", justify="right")
    table.add_column("last min")
    for label, column, unit, fmt, side, sensor in ROWS:
        t, v = _values(rows, column, side, sensor)
        if v.size == 0:
            table.add_row(label, "--", unit, "", "")
            continue
        now = v[-NOW_STEPS:].mean()
        before = v[(t > t_now - 70) & (t <= t_now - 50)]
        change = ("" if before.size == 0 else
                  ("+" if now - before.mean() >= 0 else "-") + fmt.format(abs(now - before.mean())))
        table.add_row(label, fmt.format(now), unit, change, _spark(t, v, t_now))
    return table


def link_table(state) -> Table:
    """Each sensor's link and how its neutral was found."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for name in ("sensor", "link", "Hz", "lost", "neutral (upright)"):
        table.add_column(name, justify="right" if name in ("Hz", "lost") else "left")
    for role in ("pelvis", "trunk"):
        link = state.links.get(role)
        if link is None:
            continue
        up = Text("up", style="green") if link.connected else Text("LOST", style="bold red")
        behind = state.session_s - link.last_sample_s
        if link.connected and math.isfinite(link.last_sample_s) and behind > 2.0:
            up = Text(f"silent {behind:.0f} s", style="yellow")
        table.add_row(role, up, f"{link.rate_hz:.0f}" if link.rate_hz else "", str(link.lost_samples),
                      state.neutral.get(role, "--"))
    return table


def render(state, title: str = "stridesense live") -> Group:
    """The whole screen for ``state``."""
    clock = time.strftime("%H:%M:%S", time.gmtime(max(state.session_s, 0.0)))
    head = Text(f"{title}  {clock}  {state.n_steps} steps", style="bold")
    parts = [head]
    if state.error:
        parts.append(Text(f"ANALYSIS STOPPED: {state.error}", style="bold red"))
    elif state.status in ("starting", "calibrating"):
        parts.append(Text("calibrating: stand still and upright, then run (steps show after 20 s of running)",
                          style="yellow"))
    for notice in state.notices[-2:]:
        parts.append(Text(f"notice: {notice}", style="yellow"))
    parts += [metric_table(state), Text(""), link_table(state), Text("")]
    cue_line = Text(f"cues: {state.sound}")
    if state.metronome_spm:
        cue_line.append(f"   metronome {state.metronome_spm:.0f} steps/min")
    if state.paused:
        cue_line.append(f"   paused (sensor lost): {', '.join(state.paused)} cues", style="yellow")
    if state.off_without_standing:
        cue_line.append(f"   off: {', '.join(r.replace('_', ' ') for r in state.off_without_standing)} "
                        "(neutral is the running posture: stand still 5 s before a run to set it)", style="yellow")
    parts.append(cue_line)
    for cue in state.cues[::-1]:
        parts.append(Text(f"  {time.strftime('%H:%M:%S', time.gmtime(cue.time_s))}  CUE: {cue.text}  "
                          f"({cue.metric} {cue.value:.1f})", style="bold magenta"))
    return Group(*parts)
