"""The native session folder: written append-only while streaming, read back whole.

Layout (docs/recording.md)::

    <session>/
      manifest.json            format, version, runner, body mass, sensors and their roles
      pelvis.samples.arrow     Arrow IPC stream: time_s, acc_x..acc_z [, gyr_x..gyr_z]
      trunk.samples.arrow
      pelvis.raw.arrow         original device bytes: host_time_s, char_uuid, payload (optional)
      events.jsonl             connects, drop-outs, gaps, dropped packets (optional)

Samples are appended as record batches, each handed to the OS as it is
written (a recorder writes every 0.25 s) and fsynced about once a second, so
a killed process loses at most the last batch and the file still opens: the
reader keeps every whole batch.  Files are created readable by
their owner only (health data).  Anyone can read them with pyarrow alone::

    pyarrow.ipc.open_stream("pelvis.samples.arrow").read_pandas()
"""

from __future__ import annotations

import json
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from stridesense import __version__
from stridesense.errors import RecordingError
from stridesense.imu.consts import ACC_COLS, GYR_COLS, ROLES, TIME_COL
from stridesense.imu.data import SensorData, Session, check_mass_kg

FORMAT = "stridesense-session"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FLUSH_EVERY_S = 1.0


def _schema(has_gyro: bool) -> pa.Schema:
    cols = [TIME_COL, *ACC_COLS] + (GYR_COLS if has_gyro else [])
    return pa.schema([(c, pa.float64()) for c in cols])


RAW_SCHEMA = pa.schema([("host_time_s", pa.float64()), ("char_uuid", pa.string()), ("payload", pa.binary())])


def _private_open(path: Path):
    """Open a new file for writing, owner-only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


def _recording_error(e: OSError, what: str) -> RecordingError:
    reason = "the disk is full" if e.errno == 28 else (e.strerror or str(e))
    return RecordingError(f"cannot write {what}: {reason}; what was written so far is kept")


class _StreamFile:
    """One append-only Arrow IPC stream, flushed to disk every FLUSH_EVERY_S."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        self._file = _private_open(path)
        self._writer = ipc.new_stream(self._file, schema)
        self._schema = schema
        self._last_sync = time.monotonic()

    def write(self, columns: dict) -> None:
        batch = pa.record_batch([pa.array(columns[name], type=f.type) for name, f in
                                 zip(self._schema.names, self._schema)], schema=self._schema)
        self._writer.write_batch(batch)
        # Handed to the OS at once, so a killed process loses only what was not written yet;
        # fsync (against power loss) about once a second.
        self._file.flush()
        if time.monotonic() - self._last_sync >= FLUSH_EVERY_S:
            self.sync()

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self._writer.close()
        self.sync()
        self._file.close()

    def abandon(self) -> None:
        """Close the file without finishing the stream (it is about to be deleted)."""
        try:
            self._file.close()
        except OSError:
            pass


class SessionWriter:
    """Write a session folder while streaming.

    Parameters
    ----------
    folder
        The session folder to create (must not exist, or be empty).
    runner, mass_kg
        Who ran, and their body mass (kg).
    sensors
        One dict per sensor: ``role`` ("pelvis" | "trunk"), ``has_gyro`` and any
        device facts (family, address, name, firmware, nominal_rate_hz).
    meta
        Free-form session facts.
    recorded_at
        ISO date-time of the run (default: now, as when recording live).
    """

    def __init__(self, folder: str | Path, *, runner: str = "", mass_kg: float = 70.0,
                 sensors: list[dict], meta: dict | None = None, recorded_at: str | None = None):
        check_mass_kg(mass_kg)
        self.folder = Path(folder)
        try:
            if self.folder.exists() and any(self.folder.iterdir()):
                raise RecordingError(f"{self.folder}: folder exists and is not empty; choose a new session folder")
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.folder, 0o700)
        except OSError as e:
            raise _recording_error(e, f"session folder {self.folder}") from None
        roles = [s["role"] for s in sensors]
        if not roles or any(r not in ROLES for r in roles) or len(set(roles)) != len(roles):
            raise RecordingError(f"sensors need distinct roles among {ROLES}, got {roles}")
        self.manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            # When the run happened (an import's is the recording's, not the import's): the 10 % rule's date.
            "recorded_at": recorded_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "written_by": f"stridesense {__version__}",
            "runner": runner,
            "mass_kg": float(mass_kg),
            "sensors": [dict(s, files={"samples": f"{s['role']}.samples.arrow"}) for s in sensors],
            "meta": dict(meta or {}),
        }
        self._write_manifest()
        self._samples: dict[str, _StreamFile] = {}
        self._raw: dict[str, _StreamFile] = {}
        self._gyro = {s["role"]: bool(s.get("has_gyro", True)) for s in sensors}
        self._events = None
        self._closed = False

    def _write_manifest(self) -> None:
        write_manifest(self.folder, self.manifest)

    def open_files(self, role: str, raw: bool = False) -> None:
        """Create a sensor's sample (and raw-bytes) files now, before streaming starts, not on its first batch."""
        try:
            if role not in self._samples:
                self._samples[role] = _StreamFile(self.folder / f"{role}.samples.arrow", _schema(self._gyro[role]))
            if raw and role not in self._raw:
                self._raw[role] = _StreamFile(self.folder / f"{role}.raw.arrow", RAW_SCHEMA)
                self._sensor_entry(role)["files"]["raw"] = f"{role}.raw.arrow"
                self._write_manifest()
        except OSError as e:
            raise _recording_error(e, f"{role} files") from None

    def append(self, role: str, samples: SensorData) -> None:
        """Append samples of one sensor (session clock, sensor frame, SI units)."""
        if role not in self._gyro:
            raise RecordingError(f"no sensor with role {role!r} in this session")
        if samples.n == 0:
            return
        self.open_files(role)
        try:
            cols = {TIME_COL: samples.time_s}
            cols.update({c: samples.acc_mps2[:, i] for i, c in enumerate(ACC_COLS)})
            if self._gyro[role]:
                cols.update({c: samples.gyr_radps[:, i] for i, c in enumerate(GYR_COLS)})
            self._samples[role].write(cols)
        except OSError as e:
            raise _recording_error(e, f"{role} samples") from None

    def append_raw(self, role: str, host_time_s: float, char_uuid: str, payload: bytes) -> None:
        """Keep one notification's original bytes, so the session can be decoded again."""
        self.append_raw_many(role, [host_time_s], [char_uuid], [payload])

    def append_raw_many(self, role: str, host_time_s: list, char_uuid: list, payload: list) -> None:
        """Keep many notifications' original bytes (session clock arrival times, s)."""
        if not payload:
            return
        self.open_files(role, raw=True)
        try:
            self._raw[role].write({"host_time_s": host_time_s, "char_uuid": char_uuid, "payload": payload})
        except OSError as e:
            raise _recording_error(e, f"{role} raw bytes") from None

    def update_sensor(self, role: str, **facts) -> None:
        """Add facts learnt while recording (firmware, achieved rate, clock fit) to the manifest."""
        self._sensor_entry(role).update(facts)
        self._write_manifest()

    def _sensor_entry(self, role: str) -> dict:
        """The manifest's entry of the sensor with ``role``."""
        return next(s for s in self.manifest["sensors"] if s["role"] == role)

    def event(self, kind: str, **fields) -> None:
        """Record an event (connect, disconnect, gap, dropped packet...), one JSON line."""
        try:
            if self._events is None:
                self._events = _private_open(self.folder / "events.jsonl")
            self._events.write((json.dumps({"kind": kind, **fields}) + "\n").encode())
            self._events.flush()
        except OSError as e:
            if self._events is not None:
                try:
                    self._events.close()
                except OSError:
                    pass
                self._events = None
            raise _recording_error(e, "events") from None

    def close(self) -> None:
        """Finish every file (a session that was killed instead still opens)."""
        if self._closed:
            return
        self._closed = True
        failed = None
        for name, f in [*self._samples.items(), *((f"{r} raw bytes", f) for r, f in self._raw.items()),
                        ("events", self._events)]:
            try:
                if f is not None:
                    f.close()
            except OSError as e:  # close every file anyway; report the first failure
                failed = failed or _recording_error(e, name)
        if failed is not None:
            raise failed

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_session(folder: str | Path, session: Session, **meta) -> Path:
    """Write a whole session at once (importers, the simulator)."""
    sensors = {role: getattr(session, role) for role in ROLES if getattr(session, role) is not None}
    return write_sensors(folder, sensors, runner=session.runner, mass_kg=session.mass_kg,
                         meta={**session.meta, **meta})


def write_sensors(folder: str | Path, sensors: dict[str, SensorData], *, runner: str = "", mass_kg: float = 70.0,
                  meta: dict | None = None, recorded_at: str | None = None) -> Path:
    """Write whole sensors (role -> samples) as a session folder; the pelvis may come later."""
    described = [{"role": role, "has_gyro": data.has_gyro, "source": data.source,
                  **{k: v for k, v in data.meta.items() if isinstance(v, (str, int, float, bool))}}
                 for role, data in sensors.items()]
    with SessionWriter(folder, runner=runner, mass_kg=mass_kg, sensors=described, meta=meta,
                       recorded_at=recorded_at) as w:
        for role, data in sensors.items():
            w.append(role, data)
    return Path(folder)


def is_session_folder(path: str | Path) -> bool:
    """True for a folder holding a stridesense manifest."""
    return (Path(path) / MANIFEST).is_file()


def _read_stream(path: Path) -> tuple[pa.Table, bool]:
    """Every whole record batch of a stream file; True if its tail was cut off."""
    batches, truncated = [], False
    try:
        # Memory-mapped: the batches are read in place, not copied into a heap that keeps the pages.
        with pa.memory_map(str(path), "r") as f:
            reader = ipc.open_stream(f)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError):
                    truncated = True
                    break
            schema = reader.schema
    except (pa.ArrowInvalid, OSError) as e:
        raise RecordingError(f"{path}: not a readable sample file ({e})") from None
    return pa.Table.from_batches(batches, schema=schema), truncated


def read_session(folder: str | Path) -> Session:
    """Read a session folder back.

    Raises
    ------
    RecordingError
        No folder, no or corrupt manifest, unknown format version, missing files.
    """
    sensors, manifest = read_sensors(folder)
    if "pelvis" not in sensors:
        raise RecordingError(f"{folder}: the session has no pelvis sensor")
    return Session(sensors["pelvis"], sensors.get("trunk"), float(manifest.get("mass_kg", 70.0)),
                   manifest.get("runner", ""), dict(manifest.get("meta", {}), folder=str(folder),
                                                    recorded_at=manifest.get("recorded_at") or manifest.get("created")))


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (owner-only) through a temporary file: readers see the old or the new, whole."""
    tmp = path.with_name(path.name + ".tmp")
    with _private_open(tmp) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_manifest(folder: Path, manifest: dict) -> None:
    """Replace a session's manifest atomically."""
    try:
        replace_atomically(Path(folder) / MANIFEST, json.dumps(manifest, indent=1).encode())
    except OSError as e:
        raise _recording_error(e, "the manifest") from None


def read_manifest(folder: str | Path) -> dict:
    """A session folder's manifest, checked to be one this version reads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: no such session folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise RecordingError(f"{folder}: no {MANIFEST}; not a stridesense session folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordingError(f"{folder / MANIFEST}: corrupt ({e})") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("sensors"), list):
        raise RecordingError(f"{folder / MANIFEST}: not a stridesense session manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise RecordingError(f"{folder}: format version {manifest['format_version']} is newer than this "
                             f"stridesense reads ({FORMAT_VERSION}); upgrade stridesense")
    return manifest


def read_sensors(folder: str | Path) -> tuple[dict[str, SensorData], dict]:
    """Every sensor of a session folder (role -> samples) and its manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    sensors = {}
    for s in manifest["sensors"]:
        role = s.get("role")
        path = folder / s.get("files", {}).get("samples", f"{role}.samples.arrow")
        if role not in ROLES:
            raise RecordingError(f"{folder / MANIFEST}: unknown sensor role {role!r}")
        if not path.exists():
            raise RecordingError(f"{path}: missing; the manifest lists it")
        table, truncated = _read_stream(path)
        if truncated:
            warnings.warn(f"{path}: the last batch was cut off (the recorder was killed); "
                          "read up to it", stacklevel=2)
        has_gyro = all(c in table.column_names for c in GYR_COLS)
        col = {c: table.column(c).to_numpy() for c in table.column_names}
        # Copies, so that the record batches (one buffer for all their columns) are freed.
        sensors[role] = SensorData(
            col[TIME_COL].copy(), np.column_stack([col[c] for c in ACC_COLS]),
            np.column_stack([col[c] for c in GYR_COLS]) if has_gyro else None,
            role, source=str(path), meta={k: v for k, v in s.items() if k not in ("role", "files")})
    return sensors, manifest
