"""Analyse a club's archive: every session under a folder, in parallel on Dask.

A session is a native session folder (``manifest.json``) or a folder holding
``pelvis.csv`` (and optionally ``trunk.csv``) in the generic CSV format.
Results are cached per session (keyed by the session's files, their sizes
and modification times, the stridesense version and the settings), so a
re-run analyses only what is new or changed.  A session that fails is
reported with its error; the others are all analysed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stridesense import __version__
from stridesense.errors import InputError, StridesenseError
from stridesense.streaming.session_folder import PELVIS_CSV, holds_session

DEFAULT_TIME_LIMIT_S = 600.0  # an hour's session takes under a minute; ten is a session that runs away
POLL_S = 1.0


@dataclass
class BatchResult:
    """What a batch run produced.

    Attributes
    ----------
    steps
        Every step of every session, with a ``session`` column.
    summaries
        Every session's summary table (models.summary.SessionSummary.to_frame), with ``session``.
    analysed, skipped
        Sessions analysed now, and sessions whose cached results were reused.
    failed
        Session -> error message.
    timed_out
        Sessions stopped at the time limit (also in ``failed``).
    sessions
        One row per session: runner, date, running_time_s, steps.
    load_flags
        Runner -> week-on-week load flags (models.training_load).
    """

    steps: pd.DataFrame
    summaries: pd.DataFrame
    analysed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)
    sessions: pd.DataFrame = field(default_factory=pd.DataFrame)
    load_flags: dict = field(default_factory=dict)


def find_sessions(root: str | Path) -> list[Path]:
    """Session folders under ``root`` (native folders and generic-CSV folders), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if holds_session(filenames):
            found.append(Path(dirpath))
            dirnames.clear()  # a session's own sub-folders are not sessions
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def session_key(folder: Path, settings: dict) -> str:
    """Cache key: the session's files (names, sizes, mtimes), stridesense's version and the settings."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    h.update(json.dumps({"version": __version__, **settings}, sort_keys=True).encode())
    return h.hexdigest()[:32]


def analyse_one(folder: str, mass_kg: float | None, check_roles: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analyse one session folder; returns (steps, summary table). Runs on a Dask worker."""
    import warnings

    from stridesense.api import analyze_session, load_session_folder

    folder_p = Path(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session, manifest = load_session_folder(folder_p, mass_kg=mass_kg)
        result = analyze_session(session, check_roles=check_roles)
    summary = result.summary.to_frame() if result.summary is not None else pd.DataFrame()
    date = result.info.get("recorded_at")
    if date is None:
        date = _csv_recording_date(folder_p / PELVIS_CSV, result.info["duration_s"])
    summary = summary.assign(runner=manifest.get("runner", "") or folder_p.parent.name, date=date,
                             running_time_s=float(result.steps["step_time_s"].sum()), n_steps=len(result.steps))
    return result.steps, summary


def _csv_recording_date(pelvis_csv: Path, duration_s: float) -> str:
    """A generic-CSV session's date: its time column when that is Unix time, else when the file was written."""
    from stridesense.streaming.importers import EPOCH_RANGE_S

    t0 = float(pd.read_csv(pelvis_csv, nrows=1, skipinitialspace=True)["time_s"].iloc[0])
    if EPOCH_RANGE_S[0] < t0 < EPOCH_RANGE_S[1]:
        return pd.Timestamp(t0, unit="s", tz="UTC").isoformat()
    return pd.Timestamp(pelvis_csv.stat().st_mtime - duration_s, unit="s", tz="UTC").isoformat()


class _StopOnSignal:
    """While a batch runs, SIGINT and SIGTERM ask it to stop at its next poll instead of dying mid-way.

    Dying mid-way leaves the worker processes and their semaphores to Python's
    resource tracker ("leaked semaphore objects" warnings); stopping in order
    closes the cluster first.  Outside the main thread, signals are left alone.
    """

    requested = False

    def __enter__(self):
        import signal
        import threading

        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._ask)
        return self

    def _ask(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _executing(dask_worker) -> list:
    """Keys of the tasks a worker is running now (run on each worker by the client)."""
    return [ts.key for ts in dask_worker.state.executing]


def run_batch(
    root: str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    mass_kg: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    time_limit_s: float | None = DEFAULT_TIME_LIMIT_S,
    analyse: Callable[..., tuple[pd.DataFrame, pd.DataFrame]] = analyse_one,
    check_roles: bool = True,
) -> BatchResult:
    """Analyse every session under ``root`` and write ``out`` (steps) and its ``.summary`` twin (Parquet).

    Parameters
    ----------
    root
        Folder tree of sessions.
    out
        Steps table to write, ``.parquet``; the summaries go to ``<stem>.summary.parquet``
        and the per-session cache to ``<stem>.cache/``.
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``); None starts a
        local cluster of ``n_workers`` processes.
    mass_kg
        Body mass for sessions that do not record one.
    progress
        Called with (sessions done, sessions in all).
    time_limit_s
        A session still running this long after it started is stopped (its worker
        restarted) and reported in ``failed`` and ``timed_out``; None: no limit.
    analyse
        What runs on a worker per session folder (``analyse_one``; tests slow it down).
    check_roles
        Tell pelvis and trunk apart from their signals (False: take the files' roles as given).
    """
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"--out must be a .parquet file, not {out.name!r}")
    sessions = find_sessions(root)
    if not sessions:
        raise InputError(f"{root}: no sessions found (folders with manifest.json or pelvis.csv)")
    cache = out.with_name(out.stem + ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    settings = {"mass_kg": mass_kg} if check_roles else {"mass_kg": mass_kg, "keep_roles": True}
    result = BatchResult(pd.DataFrame(), pd.DataFrame())
    todo, parts_steps, parts_summary = [], [], []
    for folder in sessions:
        key = session_key(folder, settings)
        cached = cache / f"{key}.steps.parquet"
        if cached.exists():
            parts_steps.append(pd.read_parquet(cached))
            summary_path = cache / f"{key}.summary.parquet"
            if summary_path.exists():
                parts_summary.append(pd.read_parquet(summary_path))
            result.skipped.append(str(folder))
        else:
            todo.append((folder, key))
    done = len(result.skipped)
    if progress:
        progress(done, len(sessions))
    if todo:
        from dask.distributed import Client, LocalCluster, wait
        from dask.distributed import TimeoutError as DaskTimeout

        cluster = None if scheduler else LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                      dashboard_address=":0")  # any free port: never a clash
        try:
            with _StopOnSignal() as stop, Client(scheduler or cluster) as client:
                futures = {client.submit(analyse, str(f), mass_kg, check_roles, pure=False): (f, key)
                           for f, key in todo}
                started: dict = {}
                pending = set(futures)
                while pending:
                    if stop.requested:  # Ctrl-C or kill: stop the workers in order (no leaked semaphores)
                        client.cancel(list(pending))
                        raise KeyboardInterrupt
                    try:
                        finished, pending = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
                    except DaskTimeout:
                        finished = set()
                    for fut in finished:
                        folder, key = futures[fut]
                        _collect(fut, folder, key, cache, result, parts_steps, parts_summary)
                    if time_limit_s is not None and pending:
                        pending = _stop_overdue(client, pending, futures, started, time_limit_s, result)
                    if progress and (finished or len(result.timed_out)):
                        progress(len(result.skipped) + len(futures) - len(pending), len(sessions))
        finally:
            if cluster is not None:
                cluster.close()
    result.steps = pd.concat(parts_steps, ignore_index=True) if parts_steps else pd.DataFrame()
    result.summaries = pd.concat(parts_summary, ignore_index=True) if parts_summary else pd.DataFrame()
    if len(result.steps):
        result.steps.to_parquet(out, index=False)
        result.summaries.to_parquet(out.with_name(out.stem + ".summary.parquet"), index=False)
        _training_load(result)
    return result


def _collect(fut, folder: Path, key: str, cache: Path, result: BatchResult, parts_steps: list,
             parts_summary: list) -> None:
    """One finished session: its tables cached and kept, or its error reported."""
    try:
        steps, summary = fut.result()
    except StridesenseError as e:
        result.failed[str(folder)] = str(e)
    except Exception as e:  # a corrupt session must not stop the others
        result.failed[str(folder)] = f"{type(e).__name__}: {e}"
    else:
        steps = steps.assign(session=str(folder))
        summary = summary.assign(session=str(folder))
        steps.to_parquet(cache / f"{key}.steps.parquet", index=False)
        summary.to_parquet(cache / f"{key}.summary.parquet", index=False)
        parts_steps.append(steps)
        parts_summary.append(summary)
        result.analysed.append(str(folder))


def _stop_overdue(client, pending: set, futures: dict, started: dict, limit_s: float, result: BatchResult) -> set:
    """Stop sessions running longer than ``limit_s``: cancel them and restart their workers."""
    now = time.monotonic()
    running = client.run(_executing)  # worker -> keys running there now
    for keys in running.values():
        for k in keys:
            started.setdefault(k, now)
    overdue = [f for f in pending if now - started.get(f.key, now) > limit_s]
    if not overdue:
        return pending
    keys = {f.key for f in overdue}
    workers = [w for w, ks in running.items() if keys & set(ks)]
    for fut in overdue:
        fut.cancel()
        folder = str(futures[fut][0])
        result.failed[folder] = (f"stopped after {limit_s:.0f} s without a result (the time limit per session; "
                                 "--time-limit-s changes it)")
        result.timed_out.append(folder)
    if workers:
        client.restart_workers(workers)  # the only way to stop a task that is running
    return pending - set(overdue)


def _training_load(result: BatchResult) -> None:
    """Sessions per runner, and their week-on-week load flags."""
    from stridesense.models.training_load import load_flags, weekly_load

    cols = ["session", "runner", "date", "running_time_s", "n_steps"]
    if not set(cols) <= set(result.summaries.columns):
        return
    sessions = result.summaries[cols].drop_duplicates("session").reset_index(drop=True)
    sessions["date"] = pd.to_datetime(sessions["date"], utc=True, format="ISO8601").dt.tz_localize(None)
    result.sessions = sessions
    for runner, part in sessions.groupby("runner"):
        flags = load_flags(weekly_load(part))
        if flags:
            result.load_flags[runner] = flags
