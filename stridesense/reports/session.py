"""The session report: one HTML file a coach opens offline and can send to the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stridesense.models.impact import LOADING_RATE_EXPERIMENTAL
from stridesense.models.summary import UNTRUSTED, trusted_mask
from stridesense.reports import figures
from stridesense.reports.advice import advice_for
from stridesense.reports.data import CUE_LOG, SessionData, load_session_data, standing_neutral, with_summary
from stridesense.reports.page import esc, figure_block, fmt, render_page, script_json, table

CUE_SHOW_S = 8.0  # a cue stays on screen this long in the replay
# Share of a step from contact to the pelvis' most turned moment: 0-0.2 on ten real jogging trials (SisFall, a
# waist IMU; models.simulator's PELVIS_YAW_LAG, measured there).
TURN_LAG = 0.1


DROP_SIDES_NOTE = ("Left and right pelvic drop also read closer together than from standing (on the project's and an "
                   "outside simulator, asymmetries of 77 % and 40 % read 19 % and 10 %): which side drops more "
                   "holds, how much more does not, and no asymmetry flag does not mean symmetric.")


def neutral_known(data: SessionData) -> bool:
    """Every step's angles are from a standing neutral (else lean, obliquity and tilt are from the running posture)."""
    return bool(standing_neutral(data.steps).all())


def metric_label(m: figures.MetricInfo, from_standing: bool = True) -> str:
    """A metric's name and unit; an angle without a standing neutral says what its zero is."""
    label = f"{m.label} ({m.unit})"
    return label if from_standing or m.column not in figures.FROM_NEUTRAL else \
        f"{label} · {figures.RUNNING_POSTURE_NOTE}"


def summary_rows(data: SessionData) -> list[list]:
    """Rows of the summary table: metric, left, right, all (SD), asymmetry, first/last fifth, change."""
    s = data.summary
    rows = []
    from_standing = neutral_known(data)
    for m in figures.METRICS:
        if m.column in s.missing_reasons:  # not measured, or (the loading rate) not summarised
            rows.append([metric_label(m, from_standing), "-", "-", "-", "-", "-", s.missing_reasons[m.column]])
            continue
        if m.column not in s.stats.index:
            continue
        st, fat = s.stats.loc[m.column], s.fatigue.loc[m.column]
        d = m.decimals
        rows.append([
            metric_label(m, from_standing), fmt(st["L_mean"], d), fmt(st["R_mean"], d),
            f"{fmt(st['all_mean'], d)} ({fmt(st['all_sd'], d)})", fmt(s.asymmetry_pct.get(m.column), 0, signed=True),
            f"{fmt(fat['first_fifth'], d)} → {fmt(fat['last_fifth'], d)}", fmt(fat["change"], d, signed=True),
        ])
    return rows


def flags_html(flags: list, from_standing: bool = True) -> str:
    """Each flag: the finding, what it means for the back, the exercise families, its source.

    ``from_standing`` False: the angles are from the running posture; a flag on the drop's sides says what that
    does to it.
    """
    if not flags:
        return '<p>No flags: every mean is within the guidelines this report checks.</p>'
    out = []
    for f in flags:
        back, exercises = advice_for(f.id)
        out.append(
            f'<div class="flag {esc(f.severity)}"><b>{esc(f.message)}</b> <span class="muted">(guideline: '
            f'{esc(f.threshold)})</span>'
            + (f'<div class="why">No standing period: {esc(DROP_SIDES_NOTE)}</div>'
               if not from_standing and f.id == "pelvic_drop_asymmetry" else "")
            + (f'<div class="why">For the back: {esc(back)}</div>' if back else "")
            + (f'<div class="why">What helps: {esc(exercises)}</div>' if exercises else "")
            + f'<div class="src">Source: {esc(f.source)}</div></div>')
    return "\n".join(out)


def notices_html(data: SessionData) -> str:
    """What the analysis changed or doubted, for the reader before any result (empty when nothing)."""
    info = data.info
    items = [("notice", n) for n in info.get("notices") or []]
    items += [("warning", w) for w in info.get("warnings") or []]
    items += [("note", n) for n in data.notes]
    if not items:
        return ""
    rows = "".join(f'<li><b>{esc(kind)}</b>: {esc(text)}</li>' for kind, text in items)
    return (f'<div class="notices" id="notices"><b>Read first: what the analysis changed or doubted in this '
            f'session</b><ul>{rows}</ul></div>')


def _alignment_facts(info: dict) -> list[str]:
    """Method lines on which sensor is which, the clocks and neutral (HTML, escaped)."""
    out = []
    roles = info.get("roles")
    if roles:
        verdict = str(roles.get("verdict"))
        if verdict == "swapped":
            verdict = "SWAPPED: the sensors' labels were exchanged for the analysis"
        why = f"; {roles['reason']}" if roles.get("reason") else ""
        out.append(f"<li>Which sensor is which, from their signals: {esc(verdict)} (pelvis/trunk tilt-rate log "
                   f"ratio {fmt(roles.get('score'), 2, signed=True)}{esc(why)}).</li>")
    clock = info.get("clock_alignment")
    if clock:
        out.append(f"<li>Clocks: the trunk's clock against the pelvis' {fmt(clock.get('offset_s'), 3, signed=True)} s, "
                   f"drift {fmt(clock.get('drift_ppm'), 0, signed=True)} ppm (confidence "
                   f"{fmt(clock.get('confidence'), 2)}, {esc(clock.get('windows', '-'))} windows): "
                   + ("corrected" if clock.get("applied") else "small enough to leave as recorded") + ".</li>")
    neutral = info.get("neutral") or {}
    if neutral:
        out.append("<li>Neutral (0 lean, obliquity and tilt): "
                   + esc("; ".join(f"{role}: {how}" for role, how in neutral.items())) + ".</li>")
    return out


def _facts(data: SessionData) -> str:
    s, a = data.summary, data.summary.activity or {}
    items = [
        ("running", f"{s.running_time_s / 60:.1f} min"),
        ("running steps", f"{s.n_steps}"),
        ("steps without doubt", f"{s.n_trusted}"),
        ("running bouts", f"{s.n_bouts}"),
        ("walking", f"{a.get('walking_s', 0) / 60:.1f} min"),
        ("standing", f"{a.get('standing_s', 0) / 60:.1f} min"),
        ("stops", f"{a.get('stops', 0)}"),
        ("session", f"{data.info.get('duration_s', 0) / 60:.1f} min"),
    ]
    if data.distance_m:
        items.insert(1, ("distance", f"{data.distance_m / 1000:.2f} km"))
    cells = "".join(f'<div class="fact"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in items)
    return f'<div class="facts">{cells}</div>'


def _methods(data: SessionData, decimated: int) -> str:
    info = data.info
    sensors = info.get("sensors") or []
    sensor_rows = [[s.get("role", ""), s.get("family") or s.get("name") or s.get("source") or "generic CSV",
                    "yes" if s.get("has_gyro", True) else "no", fmt(s.get("nominal_rate_hz"), 0)] for s in sensors]
    rates = f"pelvis {fmt(info.get('pelvis_rate_hz'), 0)} Hz"
    if info.get("trunk_rate_hz"):
        rates += f", trunk {fmt(info.get('trunk_rate_hz'), 0)} Hz"
    calib = ("a standing period (still and upright) defined neutral: trunk lean, pelvic obliquity and tilt 0"
             if neutral_known(data) else
             "NO standing period was found: trunk lean, pelvic obliquity and tilt are relative to the mean running "
             "posture (lean and tilt read near 0; the step table's neutral column says running_posture), so the "
             "lean and drop guidelines are not applied (no flags, bands or cues for them); their changes within "
             "the run and the left/right differences still read")
    remarks = {k: v for k, v in data.summary.quality_counts.items() if k != "ok"}
    from stridesense.models.quality import REMARKS
    missing = info.get("missing_reasons") or {}
    parts = [
        "<ul>",
        "<li>Sensors: a pelvis sensor on the sacrum"
        + (" and a trunk sensor on the sternum or upper back" if info.get("trunk_rate_hz") else "") + "; "
        f"samples resampled to a uniform grid ({esc(rates)}); body mass {fmt(info.get('mass_kg'), 0)} kg.</li>",
        f"<li>Calibration: {esc(calib)}. The forward direction comes from the running itself (confidence: pelvis "
        f"{fmt(info.get('pelvis_forward_confidence'), 2)}, trunk {fmt(info.get('trunk_forward_confidence'), 2)}).</li>",
        *_alignment_facts(info),
        "<li>Orientation: gyroscope integration with a gravity reference low-pass filtered over whole strides and "
        "ahrs' Madgwick update; during turns the reference is held and steps say <i>turning</i>.</li>",
        "<li>Steps: initial contact and toe-off from the pelvis' vertical force; left/right from three cues and "
        "alternation. Only running steps (a flight between steps) are reported.</li>",
        f"<li>Experimental, in the step table only: the loading rate ({esc(LOADING_RATE_EXPERIMENTAL)}). It is "
        "drawn per step below for changes within one runner, and is in no mean, flag or cue of this report. "
        "Accuracy figures in the README are against a simulator's ground truth; real soft tissue adds error.</li>",
        f"<li>Trusted steps: means leave out steps whose quality names {esc(', '.join(UNTRUSTED))}. Remarks in this "
        f"session: {esc(', '.join(f'{k} {v}' for k, v in sorted(remarks.items())) or 'none')}.</li>",
    ]
    if remarks:
        parts.append("<li>What the remarks mean: " + "; ".join(
            f"<i>{esc(k)}</i>: {esc(REMARKS.get(k, 'see docs/metrics.md'))}" for k in sorted(remarks)) + ".</li>")
    if missing:
        parts.append("<li>Not measured: " + esc("; ".join(f"{k}: {v}" for k, v in missing.items())) + ".</li>")
    if decimated > 1:
        parts.append(f"<li>The per-step traces show means of {decimated} consecutive steps per side (the session has "
                     f"more than {figures.MAX_POINTS_PER_SIDE} steps a side); the replay and the tables use every "
                     "step.</li>")
    cue_note = {"logged": f"the cues are those logged during the live run ({CUE_LOG})",
                "replayed": f"this session has no cue log ({CUE_LOG}); the cues shown are those the live cue engine "
                            "gives for these steps"}.get(data.cue_source, "no cues")
    parts.append(f"<li>Cues: {esc(cue_note)}.</li>")
    if notices_html(data):
        parts.append('<li>Notices and warnings: listed <a href="#notices">at the top</a>.</li>')
    parts.append(f"<li>Made by stridesense {esc(info.get('stridesense_version', ''))} from "
                 f"<code>{esc(data.folder.name)}</code>.</li></ul>")
    if sensor_rows:
        parts.append(table(["sensor", "device", "gyroscope", "nominal Hz"], sensor_rows))
    return "\n".join(parts)


def _round(a: np.ndarray, d: int) -> list:
    return [None if not np.isfinite(x) else round(float(x), d) for x in a]


def replay_data(data: SessionData) -> dict:
    """Per-step angles and cues for the replay (session clock, s; angles in deg)."""
    steps = data.steps
    t = steps["ic_s"].to_numpy(float)
    st = steps["step_time_s"].to_numpy(float)
    nxt = np.append(t[1:], t[-1] + 0.4 if t.size else 0.0)
    end = np.where(np.isfinite(st) & (st > 0), t + st, nxt)

    # The figure reaches each step's angles at mid-stance (a quarter of the step when its contact time is unknown).
    contact_s = (steps["contact_time_ms"].to_numpy(float) / 1000.0 if "contact_time_ms" in steps
                 else np.full(t.size, np.nan))
    peak = t + np.where(np.isfinite(contact_s) & (contact_s > 0), contact_s / 2.0, 0.25 * (end - t))
    peak = np.minimum(peak, end)
    duration = float(data.info.get("duration_s") or (end.max() if end.size else 0.0))
    # Every shown metric per step, for the traces' step-by-step detail when zoomed in on a long session.
    metrics = {m.column: _round(steps[m.column].to_numpy(float), m.decimals + 1) for m in figures.shown_metrics(steps)}
    t0 = 0.0
    return {
        "t0": t0, "t1": max(duration, float(end.max()) if end.size else 0.0), "cueShowS": CUE_SHOW_S,
        "turnLag": TURN_LAG,  # the rotations' extremes, a share of each step after its contact
        "postureZero": not neutral_known(data),  # lean, drop and tilt from the running posture (no standing)
        "steps": {"t": _round(t, 3), "end": _round(end, 3), "peak": _round(peak, 3), "side": steps["side"].astype(str).tolist(),
                  "q": steps["quality"].fillna("ok").astype(str).tolist(),
                  "trusted": trusted_mask(steps["quality"]).tolist(), "metrics": metrics},
        "detailMax": figures.MAX_POINTS_PER_SIDE,
        "cues": [{"t": round(c["time_s"], 2), "text": c["text"]} for c in data.cues],
        "linked": ["fig-traces", "fig-activity"],
    }


REPLAY_SVG = """
<div class="replay">
 <div class="rp-panel"><svg class="rp-figure" id="rp-behind" width="220" height="220" viewBox="0 0 220 220">
  <text x="8" y="16" font-size="11" fill="#666">from behind</text>
  <text x="30" y="205" font-size="10" fill="#999">L</text><text x="182" y="205" font-size="10" fill="#999">R</text>
  <line id="rp-behind-trunk" stroke="#555" stroke-width="10"/>
  <line x1="60" y1="55" x2="160" y2="55" stroke="#555" stroke-width="8"/>
  <circle cx="110" cy="38" r="13" fill="#777"/>
  <line id="rp-behind-pelvis" stroke="#d62728" stroke-width="12"/>
 </svg><div id="rp-behind-label"></div></div>
 <div class="rp-panel"><svg class="rp-figure" id="rp-side" width="220" height="220" viewBox="0 0 220 220">
  <text x="8" y="16" font-size="11" fill="#666">from the side (running →)</text>
  <line x1="95" y1="150" x2="95" y2="40" stroke="#ddd" stroke-dasharray="4 4"/>
  <line id="rp-side-trunk" stroke="#1f77b4" stroke-width="10"/>
  <circle id="rp-side-head" r="13" fill="#777"/>
  <line id="rp-side-pelvis" stroke="#d62728" stroke-width="10"/>
 </svg><div id="rp-side-label"></div></div>
 <div class="rp-panel"><svg class="rp-figure" id="rp-top" width="220" height="220" viewBox="0 0 220 220">
  <text x="8" y="16" font-size="11" fill="#666">from above (forward ↑)</text>
  <line id="rp-top-shoulders" stroke="#1f77b4" stroke-width="8"/>
  <line id="rp-top-pelvis" stroke="#d62728" stroke-width="10"/>
  <circle cx="110" cy="110" r="12" fill="#777"/>
 </svg><div id="rp-top-label"></div></div>
 <div style="flex:1; min-width:260px"><b>Cues</b> <span class="muted">(click one to go there)</span>
  <ol id="rp-cues">{cues}</ol>{no_cues}</div>
</div>
<div class="controls"><button id="rp-play" type="button">play</button>
 <label>speed <select id="rp-speed"><option value="1">1x</option><option value="2">2x</option>
 <option value="5" selected>5x</option><option value="10">10x</option></select></label>
 <input id="rp-scrub" type="range" aria-label="session time"></div>
<div id="rp-readout"></div><div id="rp-cue"></div>
"""


def build_session_report(data: SessionData) -> str:
    """The report page of an analysed session (HTML text)."""
    data = with_summary(data)
    steps = data.steps
    metrics = figures.shown_metrics(steps)
    decimated = max(figures.decimation_factor(int((steps["side"] == side).sum())) for side in ("L", "R"))
    trusted = steps[trusted_mask(steps["quality"])]
    title = f"Running report: {data.label}"
    cues = "".join(f'<li data-t="{c["time_s"]:.2f}">{int(c["time_s"] // 60)}:{int(c["time_s"] % 60):02d} '
                   f'{esc(c["text"])}</li>' for c in data.cues)
    cue_src = {"logged": "logged during the live run", "replayed": "no cue log: the cues the live engine gives"}
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">Session <code>{esc(data.folder.name)}</code>'
        + (f" · runner {esc(data.runner)}" if data.runner else "")
        + (f" · started {esc(data.started)}" if data.started else "") + "</p>",
        f'<p class="note">Notes: {esc(data.session_notes)}</p>' if data.session_notes else "",
        notices_html(data),
        "<h2>Summary</h2>", _facts(data),
        table(["metric", "left", "right", "all (SD)", "asymmetry %", "first → last fifth", "change"],
              summary_rows(data), css_class="summary"),
        "" if neutral_known(data) else
        f'<p class="note" id="running-posture-note">No standing period in this session: trunk lean, pelvic drop and '
        "tilt are measured from the runner's own mean running posture, not from upright, so a lean near 0 does not "
        "mean running upright, and they are not judged against the guidelines. "
        f"{DROP_SIDES_NOTE}</p>",
        '<p class="note">Means over steps without doubtful quality. Asymmetry = 100 (R − L) / mean of both; '
        "the last columns compare the first and last fifth of the run (fatigue).</p>",
        "<h2>Flags, and what they mean for the back</h2>", flags_html(data.summary.flags, neutral_known(data)),
        "<h2>Activity</h2>", figure_block(figures.activity_figure(data.activity, data.cues,
                                                                   float(data.info.get("duration_s", 0))),
                                          "fig-activity"),
        "<h2>Replay</h2>",
        '<p class="note">Move the slider or press play: the figure takes the angles measured for each step at its '
        "mid-stance and moves smoothly from one step to the next (pelvic drop from behind; trunk lean and pelvic "
        "tilt from the side; counter-rotation of shoulders against the pelvis from above); the labels give the "
        "step's own values. From above, the pelvis is most turned just after each contact, to the side of the "
        "contact (left contact: turned left, the right hip forward), and turns the other way through the stance, "
        "the shoulders against it (as on real jogging; the data give the size of the rotation, not its "
        "direction). The traces below show where you are; click a point there to jump to it. "
        + ("" if neutral_known(data) else "Lean and tilt are from the running posture (no standing period). ") +
        f"Cues: {esc(cue_src.get(data.cue_source, ''))}.</p>",
        REPLAY_SVG.replace("{cues}", cues).replace(
            "{no_cues}", "" if data.cues else '<p class="muted">no cues in this session</p>'),
        f'<script type="application/json" id="ss-replay-data">{script_json(replay_data(data))}</script>',
        "<h2>Every step over the run</h2>",
        '<p class="note">Left (blue) and right (red) stance; crosses (or dotted lines) are steps with quality '
        "remarks; the green band is the guideline. Drag to zoom in on a time range, double-click to zoom out.</p>",
        figure_block(figures.step_traces_figure(steps, metrics, neutral_known(data)),
                     "fig-traces"),
        "<h2>Left and right</h2>",
        figure_block(figures.distribution_figure(
            {"left": trusted[trusted["side"] == "L"], "right": trusted[trusted["side"] == "R"]}, metrics,
            {"left": figures.SIDE_COLOUR["L"], "right": figures.SIDE_COLOUR["R"]}), "fig-dist"),
        "<h2>How these numbers were obtained</h2>", _methods(data, decimated),
    ]
    return render_page(title, "\n".join(body), scripts=("replay.js",))


def session_report(folder: str | Path, out: str | Path, *, mass_kg: float | None = None) -> Path:
    """Analyse a session folder and write its HTML report.

    Parameters
    ----------
    folder
        A session folder (native, or generic CSV).
    out
        The HTML file to write.
    mass_kg
        Body mass, kg (default: the session's, or 70).

    Returns
    -------
    The path written.
    """
    data = load_session_data(folder, mass_kg=mass_kg)
    return write_html(build_session_report(data), out)


def write_html(text: str, out: str | Path) -> Path:
    """Write a page, creating its folder."""
    out = Path(out)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out

