"""Cue audio checked as files (no sound card here): durations, loudness, how soon the sound starts."""

import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from stridesense.models.cues import load_cue_config
from stridesense.streaming.sound import (CLICK_RATE_HZ, BeatTrack, Speaker, render_speech, stream_command, wav_facts,
                                         write_click, write_wav)

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


def _onsets_s(samples, rate_hz):
    """Reference onset detector: the first sample above 2 % of full scale after 50 ms below it (each click)."""
    loud = np.abs(samples.astype(float)) > 0.02 * 32768
    idx = np.flatnonzero(loud)
    starts = idx[np.r_[True, np.diff(idx) > 0.05 * rate_hz]]
    return starts / rate_hz


def _aubio_onsets_s(path, hop):
    """Onsets as aubio's detector finds them (Debian aubio-tools: an outside reading of the audio)."""
    out = subprocess.run(["aubioonset", "-i", str(path), "-H", str(hop), "-B", str(4 * hop)], capture_output=True,
                         text=True, check=True).stdout
    return np.array([float(x) for x in out.split()])


def test_the_metronome_track_keeps_its_beat_within_a_sample_whatever_the_block_sizes(tmp_path):
    # 60 s at 172 steps/min then 60 s at 180, rendered in blocks of random sizes (as a stream is written);
    # the truth is the metronome's definition: beat k at k * 60/spm s after the first.
    rng = np.random.default_rng(3)
    track = BeatTrack(172.0)
    blocks, n = [], 0
    while n < 120 * CLICK_RATE_HZ:
        if n >= 60 * CLICK_RATE_HZ and track.spm == 172.0:
            track.set_tempo(180.0)
            t_change = track._next / CLICK_RATE_HZ  # the first beat at the new tempo comes one old period later
        blocks.append(track.block(int(rng.integers(1, 3000))))
        n += blocks[-1].size
    audio = np.concatenate(blocks)
    onsets = _onsets_s(audio, CLICK_RATE_HZ)
    first = onsets[0]
    slow = onsets[onsets <= t_change + 0.01]
    fast = onsets[onsets > t_change + 0.01]
    assert slow.size >= 173 and fast.size >= 170
    one_sample = 1.0 / CLICK_RATE_HZ
    assert np.abs(slow - (first + np.arange(slow.size) * 60 / 172)).max() <= one_sample
    assert np.abs(fast - (slow[-1] + np.arange(1, fast.size + 1) * 60 / 180)).max() <= one_sample
    # aubio's onset detector on the same audio (hop 64 samples = 2.9 ms): every interval within a hop.
    if shutil.which("aubioonset"):
        path = write_wav(tmp_path / "metronome.wav", audio)
        found = _aubio_onsets_s(path, 64)
        assert found.size == onsets.size
        ioi = np.diff(found)
        want = np.where(found[1:] <= t_change + 0.01, 60 / 172, 60 / 180)
        assert np.abs(ioi - want).max() < 64 / CLICK_RATE_HZ


def test_the_speaker_streams_the_metronome_into_one_player_as_the_track_renders_it(tmp_path):
    # The stream goes through a real process (a player stand-in that keeps the raw samples it reads) from the
    # speaker's own thread: what the player gets is the sample-exact track, whatever the thread's timing
    # (the machine may be busy: only the amount written depends on it).
    out = tmp_path / "heard.raw"
    speaker = Speaker([], tmp_path, player=[], beat_player=["sh", "-c", f"cat > '{out}'"])
    speaker.metronome(172.0)
    time.sleep(3.0)
    speaker.close()
    assert speaker.beat_error is None
    heard, rate = np.fromfile(out, dtype="<i2"), CLICK_RATE_HZ
    assert heard.size >= 1.0 * rate
    assert np.array_equal(heard, BeatTrack(172.0).block(heard.size))
    onsets = _onsets_s(heard, rate)
    assert onsets.size >= 3
    assert np.abs(np.diff(onsets) - 60 / 172).max() <= 1.0 / rate


def test_the_metronome_stream_reads_as_raw_16_bit_mono_in_paplay_and_aplay():
    assert stream_command(["paplay"]) == ["paplay", "--raw", "--format=s16le", f"--rate={CLICK_RATE_HZ}",
                                          "--channels=1"]
    assert stream_command(["aplay", "-q"])[-9:] == ["-t", "raw", "-f", "S16_LE", "-r", str(CLICK_RATE_HZ), "-c", "1",
                                                    "-"]
