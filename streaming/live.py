"""The live run: the analysis and the cues beside a recording (or a replay).

Samples come in from the recorder's event loop (:meth:`LiveRun.put` only
queues them); a thread of its own pushes them through the one
:class:`~stridesense.pipeline.Analyzer` every ``push_every_s``, hands new
steps to the cue engine, the speaker, the session folder and the view.  The
recording never waits for the analysis: the queue is bounded, and an
analysis that falls ``max_backlog_s`` behind, or raises, stops with its
reason shown and logged while the recording goes on.  A replay puts with
``lossless=True`` and waits instead, so any speed gives the offline table.

Files written into the session folder:

``live_steps.csv``
    The step table as it came out live (METRICS.md columns).
``cues.jsonl``
    One JSON object a line per cue given: ``time_s`` (session clock),
    ``metric``, ``value`` (the rolling mean out of its band), ``text``,
    ``rule``, ``side``.
``live-errors.log``
    What stopped the analysis, with its traceback.
"""

from __future__ import annotations

import csv
import json
import math
import queue
import socket
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stridesense.imu.consts import TABLE_COLUMNS
from stridesense.imu.data import SensorData
from stridesense.models.cues import Cue, CueEngine, load_cue_config
from stridesense.pipeline import Analyzer

PUSH_EVERY_S = 0.1  # the analysis takes what came in this often (a few notifications)
MAX_BACKLOG_S = 30.0  # behind by more than this, the live analysis stops (the recording goes on)
RECENT_S = 90.0  # steps kept for the view: now and the minute before
LIVE_STEPS = "live_steps.csv"
CUE_LOG = "cues.jsonl"
ERROR_LOG = "live-errors.log"


@dataclass
class LinkView:
    """What the view shows about one sensor's link."""

    connected: bool = True
    rate_hz: float = 0.0
    lost_samples: int = 0
    reconnects: int = 0
    last_sample_s: float = -math.inf


@dataclass
class LiveState:
    """Everything the live view shows, updated by :class:`LiveRun` (read it from any thread)."""

    session_s: float = 0.0
    n_steps: int = 0
    recent: deque = field(default_factory=deque)  # step rows of the last RECENT_S
    links: dict = field(default_factory=dict)  # role -> LinkView
    neutral: dict = field(default_factory=dict)  # role -> how its neutral (upright) was found
    cues: list = field(default_factory=list)  # the last few Cue
    n_cues: int = 0
    sound: str = ""
    metronome_spm: float | None = None
    paused: tuple = ()
    off_without_standing: tuple = ()  # cue rules held: their angles need a standing neutral (models.cues)
    status: str = "starting"  # starting | calibrating | running | stopped
    error: str | None = None
    behind_s: float = 0.0
    notices: list = field(default_factory=list)  # the analysis' warnings (e.g. no standing period), each once


def _neutral(track) -> str:
    if getattr(track, "standing", None) is None:
        return "stand still, upright" if not track.has_data else "looking for it (stand still, or run 20 s)"
    how = track.neutral_source
    return how if track.alignment is not None else how + "; finding forward (run 20 s)"


class CueStream:
    """Cues as JSON lines for other programs: a file-like (``-`` = stdout) or a local socket (``unix:PATH``).

    Clients connect to the Unix socket and read one JSON object a line; a
    client that stops reading is dropped, never waited for.
    """

    def __init__(self, target: str):
        self._clients: list[socket.socket] = []
        self._server = None
        self._out = None
        if target == "-":
            self._out = sys.stdout
        elif target.startswith("unix:"):
            path = Path(target[5:])
            path.unlink(missing_ok=True)
            self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._server.bind(str(path))
            self._server.listen(4)
            self._server.settimeout(0.5)
            self.path = path
            threading.Thread(target=self._accept, name="stridesense-cue-socket", daemon=True).start()
        else:
            self._out = open(target, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setblocking(False)
            self._clients.append(client)

    def send(self, event: dict) -> None:
        line = json.dumps(event) + "\n"
        if self._out is not None:
            self._out.write(line)
            self._out.flush()
        for client in list(self._clients):
            try:
                client.send(line.encode())
            except OSError:
                self._clients.remove(client)
                client.close()

    def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            self.path.unlink(missing_ok=True)
        for client in self._clients:
            client.close()
        if self._out not in (None, sys.stdout):
            self._out.close()


class LiveRun:
    """Analyse samples as they arrive, give cues, keep the view's state.

    Parameters
    ----------
    mass_kg
        Runner's body mass, kg.
    folder
        Session folder for the live step table, cue log and error log (None: none written).
    cues
        The cue engine (default: the shipped rules); None for no cues at all.
    speaker
        Says cues (:class:`~stridesense.streaming.sound.Speaker`), or None.
    on_cue
        Called with each :class:`~stridesense.models.cues.Cue` (for other programs).
    on_steps
        Called with each batch of new step rows and the monotonic time they came out.
    lossless
        Wait when the queue is full instead of stopping (replay).
    keep_steps
        Keep every step in :attr:`steps` (False: the view's last minutes only; the folder has them all).
        The rows are kept once, in the analyzer's list.
    """

    def __init__(self, mass_kg: float = 70.0, *, folder: str | Path | None = None,
                 cues: CueEngine | None | str = "default", speaker=None, on_cue: Callable[[Cue], None] | None = None,
                 on_steps: Callable[[list[dict], float], None] | None = None, lossless: bool = False,
                 max_backlog_s: float = MAX_BACKLOG_S, push_every_s: float = PUSH_EVERY_S, keep_steps: bool = True):
        self.analyzer = Analyzer(mass_kg=mass_kg, forget=True)
        self.folder = Path(folder) if folder is not None else None
        self.cues = CueEngine(load_cue_config()) if cues == "default" else cues
        self.speaker = speaker
        self.on_cue, self.on_steps = on_cue, on_steps
        self.lossless, self.max_backlog_s, self.push_every_s = lossless, max_backlog_s, push_every_s
        self.state = LiveState(sound=speaker.mode if speaker is not None else "cues shown only")
        self.keep_steps = keep_steps
        # About 40 notifications a second come from two sensors at 208 Hz.
        self._queue: queue.Queue = queue.Queue(maxsize=64 if lossless else max(int(40 * max_backlog_s), 1))
        self._lock = threading.Lock()
        self._stopped = False
        self._steps_file = None
        self._steps_writer = None
        if self.cues is not None:
            self.cues.on_metronome = self._metronome
        self._thread = threading.Thread(target=self._work, name="stridesense-live", daemon=True)
        self._thread.start()

    @property
    def steps(self) -> list[dict]:
        """Every step row of the run so far (``keep_steps``; else none: the folder's live_steps.csv has them)."""
        return self.analyzer.steps_

    # -- from the recorder (any thread) -----------------------------------------------------------------------------
    def put(self, role: str, data: SensorData) -> None:
        """Queue a block of decoded samples; never waits unless ``lossless``."""
        if self._stopped:
            return
        if self.lossless:
            self._queue.put((role, data))
            return
        try:
            self._queue.put_nowait((role, data))
        except queue.Full:
            self._stop("the analysis fell behind (its queue is full); the recording goes on")

    def link(self, role: str, connected: bool, **facts) -> None:
        """A sensor's link state: cues needing a lost sensor pause until it is back."""
        view = self.state.links.setdefault(role, LinkView())
        was = view.connected
        view.connected = connected
        for key, value in facts.items():
            setattr(view, key, value)
        if self.cues is not None and was != connected and not self._stopped:
            try:  # called from the recorder's event loop: never wait
                self._queue.put_nowait(("link", (role, connected)))
            except queue.Full:
                self._stop("the analysis fell behind (its queue is full); the recording goes on")

    def close(self, timeout_s: float | None = None) -> list[dict]:
        """End of the session: the last steps (flush), files closed; every step of the run."""
        self._queue.put(("end", None))
        self._thread.join(timeout_s)
        if self.speaker is not None:
            self.speaker.close()
        if self._steps_file is not None:
            self._steps_file.close()
        return self.steps

    # -- the analysis thread ------------------------------------------------------------------------------------------
    def _work(self) -> None:
        pending: dict[str, list[SensorData]] = {"pelvis": [], "trunk": []}
        next_push = time.monotonic() + self.push_every_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_push - time.monotonic()))
            except queue.Empty:
                item = None
            end = item is not None and item[0] == "end"
            if item is not None and item[0] == "link":
                role, connected = item[1]
                self.cues.pause(role, not connected)
                self.state.paused = tuple(sorted(self.cues.paused))
            elif item is not None and not end:
                pending[item[0]].append(item[1])
            if not end and time.monotonic() < next_push and not (self.lossless and self._queue.qsize() == 0
                                                                 and any(pending.values())):
                continue
            next_push = time.monotonic() + self.push_every_s
            if not self._stopped:
                chunks = {r: _concat(blocks) for r, blocks in pending.items()}
                for blocks in pending.values():
                    blocks.clear()
                self._analyse(chunks, final=end)
            else:
                for blocks in pending.values():
                    blocks.clear()
            if end:
                return

    def _analyse(self, chunks: dict[str, SensorData | None], final: bool) -> None:
        a = self.analyzer
        try:
            # The analysis' warnings are notices for the view, not lines printed across it (nor errors).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rows = a.feed(chunks["pelvis"], chunks["trunk"])
                if final and a.pelvis.has_data:
                    rows += a.feed_last()
        except Exception as e:  # noqa: BLE001 - whatever the analysis meets, the recording goes on
            self._stop(f"the analysis stopped: {e}", traceback.format_exc())
            return
        notes = [str(w.message) for w in caught]
        for role in ("pelvis", "trunk"):
            track = getattr(a, role)
            notes += [f"the {role} sensor moved on the body at {t:.0f} s: re-aligned" for t in track.mount_changes]
            notes += [f"the {role} posture jumped at {t:.0f} s with no knock: measured as it is"
                      for t in track.posture_jumps]
        for note in notes:
            if note not in self.state.notices:
                self.state.notices.append(note)
        now = time.monotonic()
        for role, chunk in chunks.items():
            if chunk is not None and chunk.n:
                view = self.state.links.setdefault(role, LinkView())
                view.last_sample_s = float(chunk.time_s[-1])
                self.state.session_s = max(self.state.session_s, view.last_sample_s)
        self.state.neutral = {r: _neutral(getattr(a, r)) for r in ("pelvis", "trunk") if getattr(a, r).has_data}
        self.state.status = "running" if a.pelvis.alignment is not None else "calibrating"
        if not rows:
            return
        if not self.keep_steps:
            a.steps_.clear()  # the folder has every step; the view keeps the last minutes
        self._write_steps(rows)
        with self._lock:
            recent = self.state.recent
            recent.extend(rows)
            while recent and recent[0]["ic_s"] < rows[-1]["ic_s"] - RECENT_S:
                recent.popleft()
            self.state.n_steps += len(rows)
        if self.on_steps is not None:
            self.on_steps(rows, now)
        if self.cues is not None:
            for cue in self.cues.push(rows):
                self._give(cue)
            self.state.off_without_standing = tuple(self.cues.off_without_standing)

    def _give(self, cue: Cue) -> None:
        with self._lock:
            self.state.cues = (self.state.cues + [cue])[-3:]
            self.state.n_cues += 1
        if self.speaker is not None:
            self.speaker.say(cue.text)
        if self.folder is not None:
            with open(self.folder / CUE_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(cue.to_dict()) + "\n")
        if self.on_cue is not None:
            self.on_cue(cue)

    def _metronome(self, spm: float) -> None:
        self.state.metronome_spm = spm
        if self.speaker is not None:
            self.speaker.metronome(spm)

    def _write_steps(self, rows: list[dict]) -> None:
        if self.folder is None:
            return
        if self._steps_writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._steps_file = open(self.folder / LIVE_STEPS, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._steps_writer = csv.DictWriter(self._steps_file, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
            self._steps_writer.writeheader()
        self._steps_writer.writerows({k: ("" if isinstance(v, float) and np.isnan(v) else v)
                                      for k, v in r.items()} for r in rows)
        self._steps_file.flush()

    def _stop(self, reason: str, trace: str | None = None) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.state.status, self.state.error = "stopped", reason
        if self.folder is not None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                with open(self.folder / ERROR_LOG, "a", encoding="utf-8") as f:
                    f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} session {self.state.session_s:.1f} s: "
                            f"{reason}\n{trace or ''}")
            except OSError:
                pass


def _concat(blocks: list[SensorData]) -> SensorData | None:
    if not blocks:
        return None
    if len(blocks) == 1:
        return blocks[0]
    b = blocks[0]
    gyr = np.concatenate([x.gyr_radps for x in blocks]) if b.gyr_radps is not None else None
    # The first block's facts (meta: the accelerometer's range, which tells clipping) go with the samples.
    return SensorData(np.concatenate([x.time_s for x in blocks]), np.concatenate([x.acc_mps2 for x in blocks]),
                      gyr, b.role, b.source, meta=b.meta)
