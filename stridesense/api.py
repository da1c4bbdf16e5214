"""The library's front door: `analyze` a session from Python.

    from stridesense import analyze
    result = analyze(pelvis="pelvis.csv", trunk="trunk.csv", mass_kg=70)
    result.steps      # per-step table (METRICS.md), pandas DataFrame
    result.summary    # session summary (per side, asymmetry, fatigue, flags)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stridesense.errors import AnalysisError, InputError
from stridesense.imu.consts import GYRO_COLUMNS, TABLE_COLUMNS, TRUNK_COLUMNS
from stridesense.imu.data import SensorData, Session
from stridesense.pipeline import Analyzer

CHUNK_S = 90.0  # offline analysis pushes 1.5 minutes at a time: the same path as live (chunk-invariant)


@dataclass
class AnalysisResult:
    """What an analysis gives.

    Attributes
    ----------
    steps
        Per-step table, columns of METRICS.md.
    summary
        Session summary (``stridesense.models.summary.SessionSummary``).
    missing_reasons
        Column -> why it is empty for this session.
    info
        Calibration and data facts (rates, forward-axis confidence, warnings).
    activity
        Standing / walking / running / other bouts on the sensor analysed as
        the pelvis (``stridesense.imu.activity.Activity``; its totals are
        ``info["activity"]``).
    """

    steps: pd.DataFrame
    summary: object
    missing_reasons: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    activity: object = None


def load_session(
    pelvis: str | Path | SensorData | None = None,
    trunk: str | Path | SensorData | None = None,
    *,
    session_dir: str | Path | None = None,
    mass_kg: float | None = None,
) -> Session:
    """Read a session from a native session folder or per-sensor generic CSVs."""
    if session_dir is not None:
        from stridesense.streaming.recording import read_session

        session = read_session(session_dir)
        if mass_kg is not None:
            session = Session(session.pelvis, session.trunk, mass_kg, session.runner, session.meta)
        return session
    if pelvis is None:
        raise InputError("no pelvis data: give a pelvis CSV (--pelvis) or a session folder")
    from stridesense.streaming.generic_csv import read_sensor_csv

    def load(x, role):
        if x is None or isinstance(x, SensorData):
            return x
        return read_sensor_csv(x, role)

    return Session(load(pelvis, "pelvis"), load(trunk, "trunk"), 70.0 if mass_kg is None else mass_kg)


def load_session_folder(folder: str | Path, *, mass_kg: float | None = None) -> tuple[Session, dict]:
    """Read a session folder: native (manifest.json) or generic CSV (pelvis.csv [, trunk.csv]).

    Returns
    -------
    session, manifest
        The manifest is empty for a generic-CSV folder.

    Raises
    ------
    RecordingError, InputError
        A folder that is missing, incomplete or of another format version,
        with a sentence naming what is missing.
    """
    from stridesense.streaming.session_folder import session_folder

    found = session_folder(folder)
    if found.native:
        from stridesense.streaming.recording import read_manifest

        return load_session(session_dir=found.path, mass_kg=mass_kg), read_manifest(found.path)
    return load_session(found.pelvis_csv, found.trunk_csv, mass_kg=70.0 if mass_kg is None else mass_kg), {}


def prepare_session(session: Session, *, check_roles: bool = True) -> tuple[Session, dict]:
    """Checks every way in shares: values and units, body mass, which sensor is which, one clock.

    Returns
    -------
    session, facts
        The session with its sensors validated, in their right roles and on the
        pelvis' clock (the trunk trimmed to the pelvis' span); ``facts`` holds
        ``notices`` (what was changed, for the user before the results),
        ``clock_alignment`` and ``roles``.

    Raises
    ------
    InputError
        Implausible values or mass, roles that cannot be told apart, clocks
        that cannot be aligned, or a trunk that does not overlap the pelvis.
    """
    from stridesense.imu.alignment import align_trunk
    from stridesense.imu.data import check_mass_kg
    from stridesense.imu.roles import check_roles as role_check
    from stridesense.imu.roles import relabel

    if "folder" in session.meta:
        check_mass_kg(session.mass_kg, f"{session.meta['folder']}: the session's body mass", "give --mass-kg")
    else:
        check_mass_kg(session.mass_kg)
    pel = session.pelvis.validate()
    tr = session.trunk.validate() if session.trunk is not None else None
    facts: dict = {"notices": [], "clock_alignment": None, "roles": None}
    if tr is None:
        return Session(pel, None, session.mass_kg, session.runner, session.meta), facts
    if check_roles:
        verdict = role_check(pel, tr)
        facts["roles"] = {"verdict": verdict.verdict, "score": verdict.score, "reason": verdict.reason}
        if verdict.verdict == "swapped":
            pel, tr = relabel(tr, "pelvis"), relabel(pel, "trunk")
            facts["notices"].append(
                f"the sensor given as trunk ({pel.source}) moves like a pelvis and the one given as pelvis "
                f"({tr.source}) like a trunk (pelvis/trunk tilt-rate log ratio {verdict.score:+.2f}): "
                "analysed with the roles swapped")
        elif verdict.verdict == "unclear":
            raise InputError(
                f"cannot tell which sensor is on the pelvis: the one given as pelvis ({pel.source}) tilts about as "
                f"much as the trunk's, or less (log ratio {verdict.score:+.2f}); check --pelvis/--trunk, or "
                "analyse as labelled with --keep-roles")
    tr, found, notice = align_trunk(pel, tr)
    facts["clock_alignment"] = {"offset_s": found.offset_s, "drift_ppm": found.drift_ppm,
                                "confidence": found.confidence, "windows": found.n_windows,
                                "applied": notice is not None}
    if notice:
        facts["notices"].append(notice)
    # Only the pelvis' span is analysed (steps come from the pelvis): the trunk beyond it costs work for nothing.
    inside = tr.slice_time(pel.time_s[0] - 1.0, pel.time_s[-1] + 1.0)
    if inside.n < 2 or inside.duration_s < 0.2 * pel.duration_s:
        raise InputError(f"the trunk sensor ({tr.source}) covers {max(inside.duration_s, 0):.0f} s of the pelvis' "
                         f"{pel.duration_s:.0f} s: are the two files from the same run?")
    return Session(pel, inside, session.mass_kg, session.runner, session.meta), facts


def analyze_session(session: Session, *, progress: Callable[[float, float], None] | None = None,
                    check_roles: bool = True) -> AnalysisResult:
    """Analyse a loaded session.

    Parameters
    ----------
    session
        Pelvis (required) and trunk (optional) samples.
    progress
        Called with (seconds done, seconds in all) as the analysis goes.
    check_roles
        Tell pelvis and trunk apart from their signals (a swap is corrected
        with a notice; unclear roles are refused).  False: take them as given.
    """
    session, facts = prepare_session(session, check_roles=check_roles)
    # forget: only the signals the steps still to come need are kept (as live), not the whole session's;
    # hold_for_checks: each step waits for the slip checks around it (the table does not depend on chunks).
    analyzer = Analyzer(mass_kg=session.mass_kg, two_threads=session.trunk is not None, forget=True,
                        hold_for_checks=True)
    pel, tr = session.pelvis, session.trunk  # validated by prepare_session
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        # First pass: neutral from a standing period anywhere in the recording.
        analyzer.pelvis.prepare(pel)
        if tr is not None:
            analyzer.trunk.prepare(tr)
        caught += [str(x.message) for x in w]
    analyzer.pelvis.adopt(pel)
    if tr is not None:
        analyzer.trunk.adopt(tr)
    t0 = min(pel.time_s[0], tr.time_s[0]) if tr is not None else pel.time_s[0]
    t1 = max(pel.time_s[-1], tr.time_s[-1]) if tr is not None else pel.time_s[-1]
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            edges = np.append(np.arange(t0, t1, CHUNK_S), t1 + 1.0)
            for c0, c1 in zip(edges[:-1], edges[1:]):
                analyzer.feed(pel.slice_time(c0, c1), tr.slice_time(c0, c1) if tr is not None else None)
                if progress:
                    progress(min(c1, t1) - t0, t1 - t0)
            analyzer.feed_last()
            caught += [str(x.message) for x in w]
    finally:
        analyzer.release()  # stops the second thread; an hour's processed signals are not needed for the summary
    for axis in pel.meta.get("missing_axes", []):
        caught.append(f"{pel.source}: {axis} is empty: analysed as if it read 0; left/right from the lateral force "
                      "cannot be told (" + ("the gyroscope's cues remain)" if pel.has_gyro else
                                            "every step says side_uncertain)"))
    for message in caught:
        warnings.warn(message, stacklevel=2)
    steps = analyzer.steps
    if steps.empty:
        raise AnalysisError(
            f"{pel.source}: no running steps found in {t1 - t0:.0f} s of data; stridesense analyses running "
            "(a flight phase between steps), with the pelvis sensor on the sacrum"
        )
    missing = {}
    if tr is None:
        missing.update({c: "no trunk sensor in this session" for c in TRUNK_COLUMNS})
    elif analyzer.trunk.alignment is None:
        missing.update({c: "the trunk sensor could not be calibrated" for c in TRUNK_COLUMNS})
    if not pel.has_gyro:
        missing.update({c: "the pelvis sensor has no gyroscope" for c in GYRO_COLUMNS})
    from stridesense.models.steps import MIN_LOADING_RATE_HZ

    if analyzer.pelvis.rate_hz < MIN_LOADING_RATE_HZ:
        missing["loading_rate_bw_s"] = (f"the pelvis sensor samples at {analyzer.pelvis.rate_hz:.0f} Hz; the impact "
                                        f"transient needs {MIN_LOADING_RATE_HZ:.0f} Hz or more")
    if tr is not None and not tr.has_gyro and "pelvis_trunk_rotation_deg" not in missing:
        missing["pelvis_trunk_rotation_deg"] = "the trunk sensor has no gyroscope"
    info = {
        "pelvis_rate_hz": analyzer.pelvis.rate_hz,
        "trunk_rate_hz": analyzer.trunk.rate_hz if tr is not None else None,
        "pelvis_forward_confidence": analyzer.pelvis.forward_confidence,
        "trunk_forward_confidence": analyzer.trunk.forward_confidence if tr is not None else None,
        "standing_calibration": bool(analyzer.pelvis.standing and analyzer.pelvis.standing.from_standing),
        "neutral": {role: track.neutral_source for role, track in (("pelvis", analyzer.pelvis),
                                                                   ("trunk", analyzer.trunk)) if track.standing},
        "warnings": caught,
        "notices": facts["notices"],
        "clock_alignment": facts["clock_alignment"],
        "roles": facts["roles"],
        "recorded_at": session.meta.get("recorded_at"),
        "mass_kg": session.mass_kg,
        "duration_s": t1 - t0,
    }
    from stridesense.imu.activity import classify_activity

    activity = classify_activity(pel.time_s, pel.acc_mps2, analyzer.pelvis.rate_hz)
    info["activity"] = activity.totals()
    summary = _summarize(steps, missing)
    if summary is not None:
        summary.activity = info["activity"]
    return AnalysisResult(steps=steps[TABLE_COLUMNS], summary=summary, missing_reasons=missing, info=info,
                          activity=activity)


def _summarize(steps: pd.DataFrame, missing: dict[str, str]):
    from stridesense.models.summary import summarize

    return summarize(steps, missing_reasons=missing)


def analyze(
    pelvis: str | Path | SensorData | None = None,
    trunk: str | Path | SensorData | None = None,
    *,
    session_dir: str | Path | None = None,
    mass_kg: float | None = 70.0,
    progress: Callable[[float, float], None] | None = None,
    check_roles: bool = True,
) -> AnalysisResult:
    """Analyse a running session from files or arrays.

    Parameters
    ----------
    pelvis, trunk
        Generic CSV paths (METRICS.md) or :class:`SensorData`; trunk optional.
    session_dir
        A native session folder instead (``stridesense record`` or ``import``).
    mass_kg
        Body mass, kg (None: the session folder's).
    progress
        Called with (seconds done, seconds in all).
    check_roles
        Tell pelvis and trunk apart from their signals (see :func:`analyze_session`).

    Returns
    -------
    AnalysisResult
        Per-step table, session summary and facts about the analysis.
    """
    session = load_session(pelvis, trunk, session_dir=session_dir, mass_kg=mass_kg)
    return analyze_session(session, progress=progress, check_roles=check_roles)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV or Parquet, chosen by the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError(f"output must end in .csv or .parquet, not {path.name!r}")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.round(4).to_csv(path, index=False)  # 4 decimals, without the cost of a format per value
    else:
        df.to_parquet(path, index=False)
    return path
