"""What a report shows about one session: steps, summary, activity, cues, facts.

A session is analysed once here (``stridesense.api``); the activity bouts
are the analysis' own (``AnalysisResult.activity``, on the samples it took for the pelvis), and the cues from the
session's cue log when a live run wrote one (``cues.jsonl``, below), or
else from replaying the steps through the live cue engine.

Cue log, ``<session>/cues.jsonl``: one JSON object a line with ``time_s``
(session clock, s), ``metric`` (a METRICS.md column, or empty), ``value``
(the value that triggered the cue, in the metric's unit, or null) and
``text`` (what the runner heard or saw).  Lines that are not such objects
are skipped and counted.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stridesense import __version__
from stridesense.errors import InputError, RecordingError

CUE_LOG = "cues.jsonl"
CUE_METRIC = {"lean": "trunk_lean_deg", "drop": "pelvic_drop_deg", "cadence": "cadence_spm"}


@dataclass
class SessionData:
    """One analysed session, as the reports use it.

    Attributes
    ----------
    folder
        The session folder.
    runner, started
        Who ran (may be empty) and when (UTC, ISO 8601; may be empty).
    steps
        Per-step table (METRICS.md columns; extra columns are kept).
    summary
        ``models.summary.SessionSummary``.
    info
        Analysis facts (rates, calibration, warnings) from ``AnalysisResult.info``.
    activity
        (start_s, end_s, label) bouts on the session clock.
    cues
        Dicts with time_s, metric, value, text.
    cue_source
        "logged" (the session's cue log), "replayed" (no log: what the live
        cue engine would have said) or "none".
    manifest
        The session's manifest (empty for a generic-CSV folder).
    distance_m
        Distance run, when the session says (``meta.distance_m``), else None.
    notes
        Readable remarks about the data (skipped cue lines, ...).
    session_notes
        The coach's or runner's notes on the session (``meta.notes`` in the manifest), as written.
    """

    folder: Path
    runner: str
    started: str
    steps: pd.DataFrame
    summary: object
    info: dict
    activity: list = field(default_factory=list)
    cues: list = field(default_factory=list)
    cue_source: str = "none"
    manifest: dict = field(default_factory=dict)
    distance_m: float | None = None
    notes: list = field(default_factory=list)
    session_notes: str = ""

    @property
    def label(self) -> str:
        """Short name: runner and date, else the folder's name."""
        day = self.started[:16].replace("T", " ") if self.started else ""
        return " ".join(x for x in (self.runner, day) if x) or self.folder.name


STEP_KEYS = ("side", "ic_s", "step_time_s", "quality")  # a report cannot place a step without these


def complete_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """The step table with every METRICS.md metric column, empty (NaN) where the table lacks it.

    A table from another version, or cut down by a caller, then reads like a
    session where those metrics were not measured (the guideline checks
    read every column).

    Raises
    ------
    InputError
        A table without the columns that place a step (side, ic_s, step_time_s, quality).
    """
    from stridesense.imu.consts import METRIC_COLUMNS

    lacking = [c for c in STEP_KEYS if c not in steps]
    if lacking:
        raise InputError(f"the step table has no {', '.join(lacking)} column(s): cannot make a report of it")
    absent = [c for c in METRIC_COLUMNS if c not in steps]
    return steps.reindex(columns=[*steps.columns, *absent]) if absent else steps


def with_summary(data: SessionData) -> SessionData:
    """``data`` with a complete step table, summarised here when it came without a summary."""
    from dataclasses import replace

    from stridesense.models.summary import summarize

    steps = complete_steps(data.steps)
    if steps is data.steps and data.summary is not None:
        return data
    summary = data.summary
    if summary is None:
        missing = {c: "not in this step table" for c in steps.columns if c not in data.steps}
        missing.update((data.info or {}).get("missing_reasons") or {})
        summary = summarize(steps, missing_reasons=missing)
        summary.activity = (data.info or {}).get("activity")
    return replace(data, steps=steps, summary=summary)


def standing_neutral(steps: pd.DataFrame) -> np.ndarray:
    """True for steps whose angles are from a standing neutral (the ``neutral`` column says ``standing``).

    Other values (``running_posture``: relative to the mean running posture) are not.  A table without the
    column, or with it empty (written before the analysis had it), counts a step as from standing unless its
    quality says ``no_standing_calibration`` (how those versions said it).
    """
    if "neutral" in steps:
        neutral = steps["neutral"]
        known = neutral.notna().to_numpy()
        from_standing = neutral.astype(str).eq("standing").to_numpy()
    else:
        known = from_standing = np.zeros(len(steps), bool)
    old_way = ~steps["quality"].fillna("").astype(str).str.contains("no_standing_calibration").to_numpy()
    return np.where(known, from_standing, old_way)


def running_time_s(steps: pd.DataFrame) -> np.ndarray:
    """Running time at each step's initial contact: stops and walking left out (s).

    The sum of the step times of the steps before, so two sessions line up
    by time spent running whatever their breaks.
    """
    st = steps["step_time_s"].astype(float).fillna(0.0).to_numpy()
    return np.concatenate([[0.0], np.cumsum(st)[:-1]]) if st.size else st


def read_cue_log(folder: Path) -> tuple[list[dict], int]:
    """Cues of a live run from ``cues.jsonl`` (see the module doc); (cues, lines skipped)."""
    path = Path(folder) / CUE_LOG
    if not path.exists():
        return [], 0
    cues, skipped = [], 0
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise RecordingError(f"{path}: cannot read the cue log ({e.strerror or e})") from None
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            t = float(row["time_s"])
            value = row.get("value")
            cues.append({"time_s": t, "metric": str(row.get("metric") or ""),
                         "value": None if value is None else float(value), "text": str(row.get("text", ""))})
        except (ValueError, TypeError, KeyError, AttributeError):
            skipped += 1
    cues.sort(key=lambda c: c["time_s"])
    return cues, skipped


def replayed_cues(steps: pd.DataFrame) -> list[dict]:
    """The cues the live cue engine (models.cues) gives for these steps, in time order."""
    from stridesense.models.cues import CueEngine

    out = []
    for cue in CueEngine().push(steps):
        # Read by name, with fallbacks: the engine's Cue has grown fields (metric, value, side) over time.
        value = getattr(cue, "value", None)
        out.append({"time_s": float(getattr(cue, "time_s", None) or cue.t_s),
                    "metric": str(getattr(cue, "metric", "") or CUE_METRIC.get(getattr(cue, "id", ""), "")),
                    "value": None if value is None or not np.isfinite(value) else float(value),
                    "text": str(cue.text)})
    out.sort(key=lambda c: c["time_s"])
    return out


def _started(manifest: dict, folder: Path) -> str:
    zero = (manifest.get("meta") or {}).get("session_clock_zero_unix_s")
    if isinstance(zero, (int, float)):
        return datetime.fromtimestamp(zero, timezone.utc).isoformat(timespec="seconds")
    if manifest.get("recorded_at"):  # an import's is the recording's date, not the import's (issue 14)
        return str(manifest["recorded_at"])
    if manifest.get("created"):
        return str(manifest["created"])
    files = [f for f in folder.iterdir() if f.is_file()]
    if not files:
        return ""
    return datetime.fromtimestamp(min(f.stat().st_mtime for f in files), timezone.utc).isoformat(timespec="seconds")


def load_session_data(folder: str | Path, *, mass_kg: float | None = None, cues: bool = True) -> SessionData:
    """Analyse a session folder for a report.

    Parameters
    ----------
    folder
        A native session folder or a generic-CSV folder.
    mass_kg
        Body mass, kg (default: the session's, or 70).
    cues
        Read the cue log, or replay the live cue engine without one; False
        leaves the cues out (``cue_source`` "none": the library keeps no cues).
    """
    from stridesense.api import analyze_session, load_session_folder

    folder = Path(folder)
    session, manifest = load_session_folder(folder, mass_kg=mass_kg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collected into result.info["warnings"]
        result = analyze_session(session)
    info = dict(result.info)
    info["missing_reasons"] = dict(result.missing_reasons)
    info["sensors"] = [{k: v for k, v in s.items() if k != "files"} for s in manifest.get("sensors", [])]
    info["stridesense_version"] = __version__
    cue_list, skipped, cue_source = [], 0, "none"
    if cues:
        cue_list, skipped = read_cue_log(folder)
        cue_source = "logged" if (folder / CUE_LOG).exists() else "replayed"
        if cue_source == "replayed":
            cue_list = replayed_cues(result.steps)
    notes = []
    if skipped:
        notes.append(f"{skipped} line(s) of {CUE_LOG} were not cues (time_s, metric, value, text) and were skipped")
    meta = manifest.get("meta") or {}
    distance = meta.get("distance_m")
    runner = str(manifest.get("runner") or (folder.parent.name if not manifest else ""))
    return SessionData(
        folder=folder, runner=runner, started=_started(manifest, folder), steps=result.steps,
        summary=result.summary, info=info, activity=[(float(a), float(b), str(c)) for a, b, c in result.activity.bouts],
        cues=cue_list, cue_source=cue_source, manifest=manifest,
        distance_m=float(distance) if isinstance(distance, (int, float)) and distance > 0 else None, notes=notes,
        session_notes=str(meta.get("notes") or ""),
    )
