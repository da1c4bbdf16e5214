"""What a session folder holds: a native recording (``manifest.json``) or generic CSVs (``pelvis.csv`` [, ``trunk.csv``]).

The one place that tells them apart, for every command that takes a folder
(analyze, replay, report, compare, batch, library).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stridesense.errors import InputError, RecordingError
from stridesense.streaming.recording import MANIFEST

PELVIS_CSV, TRUNK_CSV = "pelvis.csv", "trunk.csv"


@dataclass(frozen=True)
class SessionFolder:
    """A folder holding one session.

    Attributes
    ----------
    path
        The folder.
    native
        True for a recorded or imported session (``manifest.json``); False
        for a folder of generic CSVs.
    pelvis_csv, trunk_csv
        A generic-CSV folder's files (``trunk_csv`` None when it has none);
        both None for a native folder.
    """

    path: Path
    native: bool
    pelvis_csv: Path | None = None
    trunk_csv: Path | None = None


def holds_session(filenames: Iterable[str]) -> bool:
    """True when a folder with these file names is a session folder (of either kind)."""
    names = set(filenames)
    return MANIFEST in names or PELVIS_CSV in names


def session_folder(folder: str | Path) -> SessionFolder:
    """The kind of session ``folder`` holds and its files.

    Raises
    ------
    InputError
        No such folder, or a file given instead.
    RecordingError
        A folder holding neither kind of session.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise InputError(f"{folder}: not a session folder (for a CSV file use --pelvis)")
        raise InputError(f"{folder}: no such session folder")
    if (folder / MANIFEST).exists():
        return SessionFolder(folder, native=True)
    if (folder / PELVIS_CSV).exists():
        trunk = folder / TRUNK_CSV
        return SessionFolder(folder, native=False, pelvis_csv=folder / PELVIS_CSV,
                             trunk_csv=trunk if trunk.exists() else None)
    raise RecordingError(f"{folder}: not a stridesense session folder: it has neither {MANIFEST} (a recorded or imported "
                         f"session) nor {PELVIS_CSV} (generic CSV)")
