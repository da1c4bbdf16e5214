"""A session library: a catalogue of analysed sessions in a data folder the user chooses.

    <data>/
      catalogue.sqlite          one row per session: runner, start, duration, running time, summary
      steps/<session_id>.parquet  each session's step table (METRICS.md columns + ``session_id``)

The catalogue is SQLite (the standard library's ``sqlite3``); the step
tables stay Parquet and are queried across sessions with ``pyarrow.dataset``.
Each Parquet file carries its catalogue row in its schema metadata, so a
lost or corrupt catalogue is rebuilt from the step files; and the step files
are rebuilt from the session folders by ``add``.  Session folders are only
ever read.

The data folder is ``--data DIR`` on the command line, else the environment
variable ``STRIDESENSE_DATA``, else ``$XDG_DATA_HOME/stridesense`` (by
default ``~/.local/share/stridesense``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from stridesense import __version__
from stridesense.errors import StridesenseError

ENV_VAR = "STRIDESENSE_DATA"
CATALOGUE = "catalogue.sqlite"
STEPS_DIR = "steps"
META_KEY = b"stridesense.catalogue"
LOCK_TIMEOUT_S = 5.0
SCHEMA_VERSION = 1

COLUMNS = ["session_id", "folder", "runner", "started", "duration_s", "running_time_s", "distance_m", "n_steps",
           "n_trusted", "n_bouts", "files_key", "summary_json", "added", "stridesense_version"]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    folder TEXT NOT NULL UNIQUE,
    runner TEXT NOT NULL DEFAULT '',
    started TEXT NOT NULL DEFAULT '',
    duration_s REAL,
    running_time_s REAL,
    distance_m REAL,
    n_steps INTEGER,
    n_trusted INTEGER,
    n_bouts INTEGER,
    files_key TEXT,
    summary_json TEXT,
    added TEXT,
    stridesense_version TEXT
);
CREATE INDEX IF NOT EXISTS sessions_runner ON sessions (runner, started);
PRAGMA user_version = {SCHEMA_VERSION};
"""


class LibraryError(StridesenseError):
    """The library's data folder cannot be used (locked, unwritable, not a library)."""


def default_data_dir() -> Path:
    """``$STRIDESENSE_DATA``, else ``$XDG_DATA_HOME/stridesense`` (``~/.local/share/stridesense``)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stridesense"


def session_id(folder: str | Path) -> str:
    """A session's id: from its folder's absolute path (two sessions at the same time are two folders)."""
    return hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:16]


@dataclass
class AddResult:
    """What ``Library.add`` did: sessions added or updated, unchanged, failed (folder -> error)."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Library:
    """The catalogue and step tables in one data folder.

    Parameters
    ----------
    data_dir
        The data folder (created if missing); None for :func:`default_data_dir`.
    lock_timeout_s
        How long to wait for another process that holds the catalogue.
    """

    def __init__(self, data_dir: str | Path | None = None, *, lock_timeout_s: float = LOCK_TIMEOUT_S):
        self.lock_timeout_s = lock_timeout_s
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        self.steps_dir = self.data_dir / STEPS_DIR
        try:
            self.steps_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LibraryError(f"{self.data_dir}: cannot use as the library's data folder "
                               f"({e.strerror or e})") from None
        self.path = self.data_dir / CATALOGUE
        self.notes: list[str] = []
        self._db = self._open()

    # -- the catalogue database
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.lock_timeout_s)
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM sessions").fetchone()
        return db

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        try:
            db = self._connect()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise LibraryError(f"{self.path}: the library is locked by another stridesense process; try again "
                                   "when it has finished") from None
            if "readonly" in str(e) or "unable to open" in str(e):
                raise LibraryError(f"{self.path}: cannot open the library ({e})") from None
            db = self._replace_corrupt(e)
            fresh = True
        except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
            db = self._replace_corrupt(e)
            fresh = True
        if fresh and any(self.steps_dir.glob("*.parquet")):
            self._db = db
            n = self.rebuild_catalogue()
            self.notes.append(f"catalogue rebuilt from {n} step table(s) in {self.steps_dir}")
        return db

    def _replace_corrupt(self, error: Exception) -> sqlite3.Connection:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{CATALOGUE}.corrupt-{stamp}")
        for suffix in ("", "-journal", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.replace(Path(str(aside) + suffix))
        self.notes.append(f"{self.path} was not a readable catalogue ({error}); kept as {aside.name} and rebuilt")
        warnings.warn(self.notes[-1], stacklevel=3)
        try:
            return self._connect()
        except sqlite3.Error as e:
            raise LibraryError(f"{self.path}: cannot create a new catalogue ({e})") from None

    def _write(self, sql: str, params=()) -> None:
        try:
            with self._db:
                self._db.execute(sql, params)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise LibraryError(f"{self.path}: the library is locked by another stridesense process; try "
                                   "again when it has finished") from None
            raise LibraryError(f"{self.path}: cannot write the catalogue ({e})") from None

    def close(self) -> None:
        """Close the catalogue."""
        self._db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- adding sessions
    def add(self, root: str | Path, *, mass_kg: float | None = None,
            progress: Callable[[int, int], None] | None = None) -> AddResult:
        """Analyse and catalogue every session folder under ``root`` (or ``root`` itself).

        A session whose files did not change since it was added is skipped;
        one that fails is reported and the others are added.
        """
        from stridesense.batch import find_sessions, session_key

        root = Path(root)
        folders = find_sessions(root)
        result = AddResult()
        known = {row["folder"]: row["files_key"] for row in self._rows("SELECT folder, files_key FROM sessions")}
        for i, folder in enumerate(folders):
            key = session_key(folder, {"mass_kg": mass_kg})
            sid = session_id(folder)
            if known.get(str(folder.resolve())) == key and (self.steps_dir / f"{sid}.parquet").exists():
                result.unchanged.append(str(folder))
            else:
                try:
                    self._add_one(folder, key, mass_kg)
                    result.added.append(str(folder))
                except LibraryError:
                    raise
                except StridesenseError as e:
                    result.failed[str(folder)] = str(e)
                except Exception as e:  # one bad session must not stop the rest
                    result.failed[str(folder)] = f"{type(e).__name__}: {e}"
            if progress:
                progress(i + 1, len(folders))
        return result

    def _add_one(self, folder: Path, key: str, mass_kg: float | None) -> None:
        from stridesense.reports.data import load_session_data

        data = load_session_data(folder, mass_kg=mass_kg, cues=False)  # the catalogue keeps no cues
        s = data.summary
        row = {
            "session_id": session_id(folder), "folder": str(folder.resolve()), "runner": data.runner,
            "started": data.started, "duration_s": float(data.info.get("duration_s", 0.0)),
            "running_time_s": float(s.running_time_s), "distance_m": data.distance_m, "n_steps": int(s.n_steps),
            "n_trusted": int(s.n_trusted), "n_bouts": int(s.n_bouts), "files_key": key,
            "summary_json": json.dumps(s.to_dict(), default=_json_default),
            "added": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stridesense_version": __version__,
        }
        table = pa.Table.from_pandas(data.steps.assign(session_id=row["session_id"]), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(row).encode()})
        path = self.steps_dir / f"{row['session_id']}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        self._upsert(row)

    def _upsert(self, row: dict) -> None:
        self._write(f"INSERT OR REPLACE INTO sessions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [row.get(c) for c in COLUMNS])

    def rebuild_catalogue(self) -> int:
        """Fill the catalogue from the step tables' metadata; returns the number of sessions."""
        n = 0
        for path in sorted(self.steps_dir.glob("*.parquet")):
            try:
                meta = pq.read_schema(path).metadata or {}
                row = json.loads(meta[META_KEY])
            except (pa.ArrowException, OSError, KeyError, ValueError) as e:
                self.notes.append(f"{path.name}: skipped, not a library step table ({e})")
                continue
            self._upsert(row)
            n += 1
        return n

    # -- reading
    def _rows(self, sql: str, params=()) -> list[dict]:
        try:
            cur = self._db.execute(sql, params)
        except sqlite3.OperationalError as e:
            raise LibraryError(f"{self.path}: cannot read the catalogue ({e})") from None
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def sessions(self, runner: str | None = None) -> pd.DataFrame:
        """The catalogue (without the summaries), oldest first; only ``runner``'s when given."""
        cols = [c for c in COLUMNS if c != "summary_json"]
        sql = f"SELECT {', '.join(cols)} FROM sessions"
        params: tuple = ()
        if runner is not None:
            sql += " WHERE runner = ?"
            params = (runner,)
        rows = self._rows(sql + " ORDER BY started, folder", params)
        return pd.DataFrame(rows, columns=cols)

    def summary(self, sid: str) -> dict:
        """A session's summary (``SessionSummary.to_dict``)."""
        rows = self._rows("SELECT summary_json FROM sessions WHERE session_id = ?", (sid,))
        if not rows:
            raise LibraryError(f"no session {sid!r} in the library at {self.data_dir}")
        return json.loads(rows[0]["summary_json"])

    def steps(self, session_ids: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Step tables of many sessions at once (pyarrow dataset over the Parquet files), with ``session_id``.

        Columns missing from older tables come back empty, so tables written
        before the analysis gained a column still read.
        """
        files = sorted(self.steps_dir.glob("*.parquet"))
        if session_ids is not None:
            wanted = set(session_ids)
            files = [f for f in files if f.stem in wanted]
        if not files:
            return pd.DataFrame(columns=columns or ["session_id"])
        schemas = [pq.read_schema(f) for f in files]
        schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
        dataset = ds.dataset([str(f) for f in files], schema=schema, format="parquet")
        if columns is not None:
            columns = [c for c in dict.fromkeys([*columns, "session_id"]) if c in schema.names]
        return dataset.to_table(columns=columns).to_pandas()


def _json_default(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)
