"""Cues as sound: sentences rendered to WAV before the run, played one at a time.

espeak-ng (Debian package ``espeak-ng``) speaks each sentence a session can
say into a WAV file before the sensors connect, so a cue costs no synthesis
time during the run; the metronome's click is made here (a 20-ms 2-kHz
burst).  Files play through the default audio output with ``paplay``
(PulseAudio / PipeWire) or ``aplay`` (ALSA), in a thread of their own, so
that nothing waits for the sound.  The metronome is one continuous stream of
samples into one player (:class:`BeatTrack`): each click starts on the sample
nearest its beat, so the audio clock, not a thread's wake-up or a player's
start-up, sets the beat (a player started per click wandered by milliseconds).  Without a voice or an audio device a cue
is printed and rung (terminal bell) instead, and :attr:`Speaker.mode` says
which, for the view to show.
"""

from __future__ import annotations

import fcntl
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
BEAT_BLOCK_S = 0.04  # the metronome's stream is written in blocks this long (one fits the pipe) ...
BEAT_LEAD_S = 0.3  # ... at most this far ahead of the system clock, plus BEAT_DRIFT of the time since the start:
BEAT_DRIFT = 1e-3  # a sound card's clock may run this much faster (100s of ppm); a slower one blocks the writes
BEAT_PIPE_BYTES = 4096  # the pipe to the player holds 0.09 s: the player's pace sets the writes'
BEAT_CLOSE_S = 10.0  # at the end, the player has this long to play out what it holds (a busy machine: slow)


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


def click_samples() -> np.ndarray:
    """The metronome click: a 20-ms 2-kHz burst with a quick decay, 16-bit samples at CLICK_RATE_HZ."""
    t = np.arange(int(CLICK_S * CLICK_RATE_HZ)) / CLICK_RATE_HZ
    x = np.sin(2 * np.pi * CLICK_HZ * t) * np.exp(-t / (CLICK_S / 4))
    return (0.8 * 32767 * x).astype("<i2")


def write_wav(path: str | Path, samples: np.ndarray, rate_hz: int = CLICK_RATE_HZ) -> Path:
    """16-bit mono samples as a WAV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def write_click(path: str | Path) -> Path:
    """The metronome click as a 16-bit mono WAV."""
    return write_wav(path, click_samples())


class BeatTrack:
    """The metronome as a stream of 16-bit samples at CLICK_RATE_HZ, block after block.

    Beat k starts on the sample nearest its exact time (k beat periods after
    the first, in samples, summed as floats), so beats are within half a
    sample (23 us) of a perfect metronome whatever the block sizes.  A new
    tempo applies from the beat after the next.
    """

    def __init__(self, spm: float | None = None):
        self.rate_hz = CLICK_RATE_HZ
        self.spm: float | None = None
        self.n_written = 0
        self._next: float | None = None  # sample index of the next beat
        self._click = click_samples()
        self._tail = np.zeros(0, dtype=np.int32)  # the part of a click that runs into the next block
        self.set_tempo(spm)

    def set_tempo(self, spm: float | None) -> None:
        """Beat at ``spm`` steps per minute (the first beat at once); None: silence."""
        if not spm:
            self.spm, self._next = None, None
            return
        if self._next is None:
            self._next = float(self.n_written)
        self.spm = float(spm)

    def block(self, n: int) -> np.ndarray:
        """The next ``n`` samples."""
        out = np.zeros(n + self._click.size, dtype=np.int32)
        out[:self._tail.size] += self._tail
        end = self.n_written + n
        while self._next is not None and self._next < end - 0.5:
            i = int(round(self._next)) - self.n_written
            out[i:i + self._click.size] += self._click
            self._next += self.rate_hz * 60.0 / self.spm
        self._tail = out[n:].copy()
        self.n_written = end
        return np.clip(out[:n], -32768, 32767).astype("<i2")

    def render(self, duration_s: float) -> np.ndarray:
        """The next ``duration_s`` of the track in one go."""
        return self.block(int(round(duration_s * self.rate_hz)))


def stream_command(player: list[str], rate_hz: int = CLICK_RATE_HZ) -> list[str] | None:
    """The player reading raw 16-bit mono samples from stdin (None if it is not paplay or aplay)."""
    name = Path(player[0]).name
    if name == "paplay":
        return [*player, "--raw", "--format=s16le", f"--rate={rate_hz}", "--channels=1"]
    if name == "aplay":
        return [*player, "-t", "raw", "-f", "S16_LE", "-r", str(rate_hz), "-c", "1", "-"]
    return None


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
    beat_player
        The command the metronome's stream is written to (raw 16-bit mono samples at CLICK_RATE_HZ on
        stdin); default: the player's own raw mode (:func:`stream_command`).
    """

    def __init__(self, texts: Iterable[str], cache_dir: str | Path, *, player: list[str] | None = None,
                 ring: Callable[[str], None] | None = None, beat_player: list[str] | None = None):
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
        self.beat_player = beat_player or (stream_command(self.player) if self.player else None)
        self.beat_error: str | None = None  # why the metronome stopped, if it did
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
        if spm and self._beater is None and self.beat_player is not None:
            self._beater = threading.Thread(target=self._beat_loop, name="stridesense-metronome", daemon=True)
            self._beater.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the metronome; let the sentence being said finish (up to ``timeout_s``)."""
        self._stop.set()
        self._queue.put((None, 0.0))
        self._worker.join(timeout_s)
        if self._beater is not None:
            self._beater.join(BEAT_CLOSE_S + 1.0)

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
        """Write the beat stream into one player, a block at a time.

        The player takes samples at its sound card's pace (a full pipe blocks the writes); the system clock
        only caps how far ahead the stream runs (for players that do not block: a file).
        """
        track = BeatTrack()
        block = int(BEAT_BLOCK_S * track.rate_hz)
        try:
            proc = subprocess.Popen(self.beat_player, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        except OSError as e:
            self.beat_error = f"cannot start {self.beat_player[0]}: {e}"
            return
        try:
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, BEAT_PIPE_BYTES)
        except (OSError, AttributeError):
            pass  # a longer pipe: a new tempo is heard later, the beat is as even
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - start
                ahead_s = track.n_written / track.rate_hz - elapsed - (BEAT_LEAD_S + BEAT_DRIFT * elapsed)
                if ahead_s > 0:
                    self._stop.wait(ahead_s)
                    continue
                if track.spm != self._beat_spm:
                    track.set_tempo(self._beat_spm)
                proc.stdin.write(track.block(block).tobytes())
                proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.beat_error = f"{self.beat_player[0]} stopped taking the beat: {e}"
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=BEAT_CLOSE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
