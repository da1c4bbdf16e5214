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
    """

    steps: pd.DataFrame
    summary: object
    missing_reasons: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


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


def analyze_session(session: Session, *, progress: Callable[[float, float], None] | None = None) -> AnalysisResult:
    """Analyse a loaded session.

    Parameters
    ----------
    session
        Pelvis (required) and trunk (optional) samples.
    progress
        Called with (seconds done, seconds in all) as the analysis goes.
    """
    analyzer = Analyzer(mass_kg=session.mass_kg, two_threads=session.trunk is not None)
    pel, tr = session.pelvis.validate(), session.trunk.validate() if session.trunk is not None else None
    analyzer.pelvis.adopt(pel)
    if tr is not None:
        analyzer.trunk.adopt(tr)
    t0 = min(pel.time_s[0], tr.time_s[0]) if tr is not None else pel.time_s[0]
    t1 = max(pel.time_s[-1], tr.time_s[-1]) if tr is not None else pel.time_s[-1]
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            edges = np.append(np.arange(t0, t1, CHUNK_S), t1 + 1.0)
            for c0, c1 in zip(edges[:-1], edges[1:]):
                analyzer.feed(pel.slice_time(c0, c1), tr.slice_time(c0, c1) if tr is not None else None)
                if progress:
                    progress(min(c1, t1) - t0, t1 - t0)
            analyzer.feed_last()
            caught = [str(x.message) for x in w]
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
        "warnings": caught,
        "mass_kg": session.mass_kg,
        "duration_s": t1 - t0,
    }
    from stridesense.imu.activity import classify_activity

    activity = classify_activity(pel.time_s, pel.acc_mps2, analyzer.pelvis.rate_hz)
    info["activity"] = activity.totals()
    summary = _summarize(steps, missing)
    if summary is not None:
        summary.activity = info["activity"]
    return AnalysisResult(steps=steps[TABLE_COLUMNS], summary=summary, missing_reasons=missing, info=info)


def _summarize(steps: pd.DataFrame, missing: dict[str, str]):
    from stridesense.models.summary import summarize

    return summarize(steps, missing_reasons=missing)


def analyze(
    pelvis: str | Path | SensorData | None = None,
    trunk: str | Path | SensorData | None = None,
    *,
    session_dir: str | Path | None = None,
    mass_kg: float = 70.0,
    progress: Callable[[float, float], None] | None = None,
) -> AnalysisResult:
    """Analyse a running session from files or arrays.

    Parameters
    ----------
    pelvis, trunk
        Generic CSV paths (METRICS.md) or :class:`SensorData`; trunk optional.
    session_dir
        A native session folder instead (``stridesense record`` or ``import``).
    mass_kg
        Body mass, kg.
    progress
        Called with (seconds done, seconds in all).

    Returns
    -------
    AnalysisResult
        Per-step table, session summary and facts about the analysis.
    """
    session = load_session(pelvis, trunk, session_dir=session_dir, mass_kg=mass_kg)
    return analyze_session(session, progress=progress)


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
