"""Cues as sound: sentences rendered to WAV before the run, played one at a time.

espeak-ng (Debian package ``espeak-ng``) speaks each sentence a session can
say into a WAV file before the sensors connect, so a cue costs no synthesis
time during the run; the metronome's click is made here (a 20-ms 2-kHz
burst).  Files play through the default audio output with ``paplay``
(PulseAudio / PipeWire) or ``aplay`` (ALSA), in a thread of their own, so
that nothing waits for the sound.  Without a voice or an audio device a cue
is printed and rung (terminal bell) instead, and :attr:`Speaker.mode` says
which, for the view to show.
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

VOICE_RATE_WPM = 165  # espeak-ng's words per minute: clear at a running breath
CLICK_RATE_HZ = 22050
CLICK_S, CLICK_HZ = 0.02, 2000.0


def _run_quietly(cmd: list[str], timeout_s: float = 5.0) -> bool:
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout_s).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def find_player() -> tuple[list[str] | None, str]:
    """The command that plays a WAV through the default output, and why not if None."""
    if shutil.which("paplay") and shutil.which("pactl") and _run_quietly(["pactl", "info"]):
        return ["paplay"], "PulseAudio/PipeWire"
    if shutil.which("aplay"):
        try:
            listed = subprocess.run(["aplay", "-l"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        if "card " in listed:
            return ["aplay", "-q"], "ALSA"
        return None, "no audio device"
    return None, "no audio player (paplay or aplay)"


def render_speech(texts: Iterable[str], folder: str | Path, *, voice: str = "en") -> dict[str, Path]:
    """Each sentence spoken into ``folder`` as a WAV (espeak-ng); {} without espeak-ng.

    Files are named by a hash of voice, speed and text, so a second run reuses them.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        return {}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for text in texts:
        key = hashlib.sha1(f"{voice}|{VOICE_RATE_WPM}|{text}".encode()).hexdigest()[:16]
        path = folder / f"cue-{key}.wav"
        if not path.exists() or path.stat().st_size < 1000:
            tmp = path.with_suffix(".tmp.wav")
            if not _run_quietly([exe, "-v", voice, "-s", str(VOICE_RATE_WPM), "-w", str(tmp), text], 30.0):
                return {}
            tmp.replace(path)
        out[text] = path
    return out


def write_click(path: str | Path) -> Path:
    """A metronome click: a 20-ms 2-kHz burst with a quick decay, 16-bit mono WAV."""
    t = np.arange(int(CLICK_S * CLICK_RATE_HZ)) / CLICK_RATE_HZ
    x = np.sin(2 * np.pi * CLICK_HZ * t) * np.exp(-t / (CLICK_S / 4))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(CLICK_RATE_HZ)
        w.writeframes((0.8 * 32767 * x).astype("<i2").tobytes())
    return path


def wav_facts(path: str | Path) -> tuple[float, float, float]:
    """(duration s, RMS relative to full scale, first sound s: |x| > 2 % of full scale) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as w:
        n, rate, width = w.getnframes(), w.getframerate(), w.getsampwidth()
        frames = w.readframes(n)
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples, expected 16")
    x = np.frombuffer(frames, dtype="<i2").astype(float) / 32768.0
    loud = np.flatnonzero(np.abs(x) > 0.02)
    return n / rate, float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0, loud[0] / rate if loud.size else np.inf


class Speaker:
    """Say cues, one at a time, and beat the metronome.

    Parameters
    ----------
    texts
        Every sentence the session can say (rendered now).
    cache_dir
        Where the WAVs go.
    player
        The play command (default: :func:`find_player`); ``[]`` for none.
    ring
        What stands in for a cue without sound (default: the terminal bell on stderr).
    """

    def __init__(self, texts: Iterable[str], cache_dir: str | Path, *, player: list[str] | None = None,
                 ring: Callable[[str], None] | None = None):
        self.cache_dir = Path(cache_dir)
        self.wavs = render_speech(list(texts), self.cache_dir)
        if player is None:
            player, why = find_player()
        else:
            why = "no audio device" if not player else player[0]
        self.player = player or None
        if self.player and self.wavs:
            self.mode = f"spoken ({why})"
        elif self.player:
            self.mode = "printed and rung (no voice: install espeak-ng)"
        else:
            self.mode = f"printed and rung ({why})"
        self.ring = ring or (lambda text: (sys.stderr.write("\a"), sys.stderr.flush()))
        self.started: list[tuple[str, float]] = []  # (text, monotonic time its sound started)
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._beat_spm: float | None = None
        self._click = write_click(self.cache_dir / "click.wav") if self.player else None
        self._worker = threading.Thread(target=self._speak_loop, name="stridesense-speaker", daemon=True)
        self._worker.start()
        self._beater: threading.Thread | None = None

    @property
    def spoken(self) -> bool:
        return self.mode.startswith("spoken")

    def say(self, text: str) -> None:
        """Queue a sentence; never waits (a full queue drops it: cues are never stale news)."""
        try:
            self._queue.put_nowait((text, time.monotonic()))
        except queue.Full:
            pass

    def metronome(self, spm: float | None) -> None:
        """Beat at ``spm`` steps per minute from now on (None stops it)."""
        self._beat_spm = spm
        if spm and self._beater is None and self._click is not None:
            self._beater = threading.Thread(target=self._beat_loop, name="stridesense-metronome", daemon=True)
            self._beater.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the metronome; let the sentence being said finish (up to ``timeout_s``)."""
        self._stop.set()
        self._queue.put((None, 0.0))
        self._worker.join(timeout_s)
        if self._beater is not None:
            self._beater.join(timeout_s)

    def _speak_loop(self) -> None:
        while True:
            text, _queued = self._queue.get()
            if text is None:
                return
            wav = self.wavs.get(text)
            if self.player and wav is not None:
                try:
                    proc = subprocess.Popen([*self.player, str(wav)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                except OSError:
                    proc = None
                self.started.append((text, time.monotonic()))
                if proc is not None:
                    try:
                        proc.wait(timeout=15)  # one at a time: the next cue waits for this one
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            else:
                self.started.append((text, time.monotonic()))
                self.ring(text)

    def _beat_loop(self) -> None:
        next_beat = time.monotonic()
        children: list[subprocess.Popen] = []
        while not self._stop.is_set():
            spm = self._beat_spm
            if not spm:
                self._stop.wait(0.2)
                next_beat = time.monotonic()
                continue
            if self._stop.wait(max(0.0, next_beat - time.monotonic())):
                break
            try:
                children.append(subprocess.Popen([*self.player, str(self._click)], stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL))
            except OSError:
                pass
            children = [c for c in children if c.poll() is None]
            next_beat += 60.0 / spm
        for c in children:
            c.wait()
