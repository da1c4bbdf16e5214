"""Cue audio checked as files (no sound card here): durations, loudness, how soon the sound starts."""

import shutil
import subprocess
import sys
import time

import pytest

from stridesense.models.cues import load_cue_config
from stridesense.streaming.sound import Speaker, render_speech, wav_facts, write_click

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) not installed")


def sox_stats(path):
    """Length (s) and RMS amplitude as sox measures them (an independent reading of the file)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    stats = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return float(stats["Length (seconds)"]), float(stats["RMS     amplitude"])


@needs_espeak
def test_every_default_cue_is_spoken_into_a_short_audible_wav(tmp_path):
    texts = load_cue_config().texts()
    wavs = render_speech(texts, tmp_path)
    assert set(wavs) == set(texts)
    for text, path in wavs.items():
        duration, rms, onset = wav_facts(path)
        # A few words at 165 words/min: 0.25-0.6 s a word; speech from the first 0.2 s; clearly not silence.
        words = len(text.split())
        assert 0.25 * words < duration < 0.6 * words + 0.5, text
        assert onset < 0.2 and rms > 0.02, text
        if shutil.which("sox"):
            sox_len, sox_rms = sox_stats(path)
            assert sox_len == pytest.approx(duration, abs=1e-3) and sox_rms == pytest.approx(rms, rel=0.05)


@needs_espeak
def test_rendered_cues_are_reused_on_the_next_run(tmp_path):
    first = render_speech(["quicker, shorter steps"], tmp_path)["quicker, shorter steps"]
    stamp = first.stat().st_mtime_ns
    again = render_speech(["quicker, shorter steps"], tmp_path)["quicker, shorter steps"]
    assert again == first and again.stat().st_mtime_ns == stamp


def test_the_metronome_click_is_a_short_loud_burst(tmp_path):
    duration, rms, onset = wav_facts(write_click(tmp_path / "click.wav"))
    assert duration == pytest.approx(0.02, abs=1e-3) and onset < 0.001 and rms > 0.1


def _logging_player(tmp_path):
    """A stand-in for aplay: appends the file it was given to a log, after 0.2 s of 'playing'."""
    log = tmp_path / "played.log"
    code = f"import sys, time; open({str(log)!r}, 'a').write(sys.argv[1] + '\\n'); time.sleep(0.2)"
    return [sys.executable, "-c", code], log


@needs_espeak
def test_cues_play_one_after_another_through_the_player(tmp_path):
    player, log = _logging_player(tmp_path)
    speaker = Speaker(["hold your hips level", "quicker, shorter steps"], tmp_path / "wav", player=player)
    assert speaker.spoken
    speaker.say("hold your hips level")
    speaker.say("quicker, shorter steps")
    speaker.close()
    played = log.read_text().splitlines()
    assert played == [str(speaker.wavs["hold your hips level"]), str(speaker.wavs["quicker, shorter steps"])]
    (t1, s1), (t2, s2) = speaker.started
    assert t1 == "hold your hips level" and s2 - s1 >= 0.2  # the second waited for the first to finish


def test_without_an_audio_device_cues_are_rung_and_the_mode_says_so(tmp_path):
    rung = []
    speaker = Speaker(["quicker, shorter steps"], tmp_path, player=[], ring=rung.append)
    assert not speaker.spoken and speaker.mode == "printed and rung (no audio device)"
    speaker.say("quicker, shorter steps")
    speaker.close()
    assert rung == ["quicker, shorter steps"]


def test_the_metronome_beats_with_the_click(tmp_path):
    player, log = _logging_player(tmp_path)
    speaker = Speaker([], tmp_path, player=player)
    speaker.metronome(600.0)  # a beat every 0.1 s
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    speaker.close()
    clicks = log.read_text().splitlines()
    assert len(clicks) >= 3 and set(clicks) == {str(tmp_path / "click.wav")}
