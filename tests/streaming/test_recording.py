import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import replace

import numpy as np
import pyarrow.ipc as ipc
import pytest

from stridesense.errors import RecordingError
from stridesense.streaming.recording import SessionWriter, is_session_folder, read_session, write_session


def test_round_trip_keeps_every_sample_and_the_runner(tmp_path, sim_short):
    folder = write_session(tmp_path / "s1", replace(sim_short.session, runner="ana", mass_kg=61.0))
    back = read_session(folder)
    assert back.runner == "ana" and back.mass_kg == 61.0
    for role in ("pelvis", "trunk"):
        a, b = getattr(sim_short.session, role), getattr(back, role)
        assert np.array_equal(a.time_s, b.time_s) and np.array_equal(a.acc_mps2, b.acc_mps2)
        assert np.array_equal(a.gyr_radps, b.gyr_radps)
    assert is_session_folder(folder)


def test_files_are_private_and_readable_with_pyarrow_alone(tmp_path, sim_short):
    folder = write_session(tmp_path / "s", sim_short.session)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    df = ipc.open_stream(str(folder / "pelvis.samples.arrow")).read_pandas()
    assert list(df.columns[:4]) == ["time_s", "acc_x", "acc_y", "acc_z"] and len(df) == sim_short.session.pelvis.n


def test_accelerometer_only_sensor_round_trips_without_gyro(tmp_path, sim_short):
    s = replace(sim_short.session, pelvis=replace(sim_short.session.pelvis, gyr_radps=None), trunk=None)
    back = read_session(write_session(tmp_path / "s", s))
    assert back.pelvis.gyr_radps is None and back.trunk is None


def test_raw_bytes_and_events_are_kept(tmp_path, sim_short):
    with SessionWriter(tmp_path / "s", sensors=[{"role": "pelvis", "has_gyro": True, "family": "polar"}]) as w:
        w.append("pelvis", sim_short.session.pelvis.slice_time(0, 1))
        w.append_raw("pelvis", 12.5, "fb005c82-02e7-f387-1cad-8acd2d8df0c8", b"\x02\x00\x01")
        w.event("disconnect", role="pelvis", t_s=12.6)
    raw = ipc.open_stream(str(tmp_path / "s" / "pelvis.raw.arrow")).read_pandas()
    assert raw["payload"].iloc[0] == b"\x02\x00\x01"
    events = [json.loads(x) for x in (tmp_path / "s" / "events.jsonl").read_text().splitlines()]
    assert events == [{"kind": "disconnect", "role": "pelvis", "t_s": 12.6}]


def test_a_recorder_killed_with_sigkill_leaves_a_session_that_opens(tmp_path):
    folder = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import time, numpy as np
        from stridesense.imu.data import SensorData
        from stridesense.streaming.recording import SessionWriter
        w = SessionWriter({str(folder)!r}, sensors=[{{"role": "pelvis", "has_gyro": True}}])
        t0 = time.monotonic(); k = 0
        while True:   # 200 Hz in 20-sample packets, in real time
            t = (k * 20 + np.arange(20)) / 200.0
            w.append("pelvis", SensorData(t, np.tile([0, 0, 9.81], (20, 1)), np.zeros((20, 3)), "pelvis"))
            k += 1
            if k == 1: print("started", flush=True)
            time.sleep(max(0.0, t0 + k * 0.1 - time.monotonic()))
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline().strip() == "started"
        started = time.monotonic()
        time.sleep(3.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        written_s = time.monotonic() - started
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tail may or may not have been cut mid-batch: both are fine
        s = read_session(folder)
    kept_s = s.pelvis.time_s[-1] + 0.005
    assert kept_s >= written_s - 1.3  # at most about the last second is lost
    assert np.all(np.diff(s.pelvis.time_s) > 0)


def test_bad_folders_are_recording_errors(tmp_path, sim_short):
    with pytest.raises(RecordingError, match="no such session folder"):
        read_session(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="not a stridesense session"):
        read_session(tmp_path / "empty")
    folder = write_session(tmp_path / "s", sim_short.session)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(RecordingError, match="corrupt"):
        read_session(folder)
    with pytest.raises(RecordingError, match="not empty"):
        write_session(folder, sim_short.session)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_place_is_a_recording_error(tmp_path, sim_short):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(RecordingError, match="cannot write"):
        write_session(ro / "s", sim_short.session)


def test_a_full_disk_stops_with_a_clear_message_and_keeps_what_was_written(tmp_path, sim_short):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    w = SessionWriter(tmp_path / "s", sensors=[{"role": "pelvis", "has_gyro": True}])
    w.append("pelvis", sim_short.session.pelvis.slice_time(0, 1))
    w._samples["pelvis"].sync()
    kept = (tmp_path / "s" / "pelvis.samples.arrow").stat().st_size
    os.symlink("/dev/full", tmp_path / "s" / "events.jsonl")
    with pytest.raises(RecordingError, match="disk is full"):
        w.event("disconnect")
    assert (tmp_path / "s" / "pelvis.samples.arrow").stat().st_size == kept
    w.close()  # the samples close normally
    assert read_session(tmp_path / "s").pelvis.n == sim_short.session.pelvis.slice_time(0, 1).n
