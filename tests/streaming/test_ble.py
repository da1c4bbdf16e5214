"""The Bluetooth client through bleak's real BlueZ backend, against a fake BlueZ on a private D-Bus."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from ble_harness import PELVIS, RATE_HZ, SPEAKER, TRUNK, WITMOTION, bluez, needs_dbus, private_bus, sim_config  # noqa: F401

from stridesense.api import analyze
from stridesense.errors import DeviceError, RecordingError
from stridesense.models.simulator import simulate_session, write_simulation
from stridesense.streaming.ble import Recorder, release_bluetooth, scan
from stridesense.streaming.recording import read_sensors

pytestmark = needs_dbus


@pytest.fixture(autouse=True)
async def _bleak_bus_closed():
    """Each test's event loop closes bleak's D-Bus connection (bleak would keep it until the next loop)."""
    yield
    await release_bluetooth()


def _timing_errors_s(fake, recorder, truth_session, sensors) -> dict:
    """Recorded sample time minus the time the simulated body made the sample, per role (all samples sent)."""
    body_t0_s = fake.truth()["body_t0_monotonic_s"] - recorder.t0  # on the session clock
    out = {}
    for role, data in sensors.items():
        truth_s = getattr(truth_session, role).time_s
        out[role] = data.time_s - (body_t0_s + truth_s[:data.n] - truth_s[0])
    return out


def _events(folder):
    path = folder / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _record_all(recorder, fake, run_s: float, timeout_s: float):
    """Run the recorder until the simulated run (``run_s`` from its start) is over and nothing more came
    for a second; then stop the fake, whose truth says what it sent."""
    seen = {}

    def check(rec):
        now = time.monotonic()
        total = sum(s.samples for s in rec.status.values())
        if total != seen.get("total"):
            seen.update(total=total, at=now)
        if total and "body_t0" not in seen:
            seen["body_t0"] = fake.truth()["body_t0_monotonic_s"]
        if total and now > seen["body_t0"] + run_s and now - seen["at"] > 1.0:
            rec.stop.set()

    result = await recorder.run(timeout_s, on_status=check, status_every_s=0.2)
    fake.close()
    return result, fake.truth()


async def _record_until(recorder, expected: dict, timeout_s: float):
    """Run the recorder until every sensor has delivered ``expected[role]`` samples (or the timeout)."""

    def check(rec):
        if all(rec.status[r].samples >= n for r, n in expected.items()):
            rec.stop.set()

    return await recorder.run(timeout_s, on_status=check, status_every_s=0.2)


async def test_scan_lists_the_supported_sensors_with_family_and_rssi(bluez):
    bluez([PELVIS, TRUNK, dict(WITMOTION, role="trunk"), SPEAKER], duration_s=10)
    found = await scan(1.5)
    by_address = {s.address: s for s in found}
    assert set(by_address) == {PELVIS["address"], TRUNK["address"], WITMOTION["address"]}
    assert by_address[PELVIS["address"]].family == "movesense"
    assert by_address[TRUNK["address"]].family == "polar"
    assert by_address[WITMOTION["address"]].name == WITMOTION["name"]
    assert all(-70 <= s.rssi <= -50 for s in found)
    everything = await scan(1.0, everything=True)
    assert SPEAKER["address"] in {s.address for s in everything}


async def test_two_sensors_stream_60_s_and_the_recording_analyses_to_the_simulators_table(bluez, tmp_path):
    duration_s = 60.0
    fake = bluez([PELVIS, TRUNK], seed=11, duration_s=duration_s)
    sim = simulate_session(sim_config(11, duration_s))
    folder = tmp_path / "session"
    recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["name"]}, folder, runner="ana", mass_kg=61)
    result, truth = await _record_all(recorder, fake, duration_s, duration_s + 20)

    # Every sample the devices sent arrived (the whole run but the last part-filled packets: a Polar GYRO frame
    # holds up to about 0.5 s here, and seed 11 leaves 103 samples unsent), at the device's rate, and nothing was
    # lost or dropped.
    for role, dev in (("pelvis", PELVIS), ("trunk", TRUNK)):
        s, sent = result.status[role], truth["devices"][dev["address"]]["samples_sent"]
        assert sent >= (duration_s - 0.6) * RATE_HZ
        assert (s.samples, s.lost_samples, s.dropped_packets, s.reconnects) == (sent, 0, 0, 0), role
    sensors, manifest = read_sensors(folder)
    for role, data in sensors.items():
        rate = (data.n - 1) / (data.time_s[-1] - data.time_s[0])
        assert rate == pytest.approx(RATE_HZ, rel=1e-3), role
        truth = getattr(sim.session, role)
        assert np.abs(data.acc_mps2 - truth.acc_mps2[:data.n]).max() < 0.01  # mG resolution of Polar
        assert np.abs(data.gyr_radps - truth.gyr_radps[:data.n]).max() < 0.002  # 0.06 deg/s resolution of Polar
    # Both device clocks on one session clock, without jumps: every sample interval is the device's
    # (refits are slewed in at 0.1 %), and once the first seconds have settled the estimate
    # (1 ms a second), the sensors stay aligned to within 3 ms.
    offsets = {r: d.time_s - getattr(sim.session, r).time_s[:d.n] for r, d in sensors.items()}
    for role, data in sensors.items():  # Movesense stamps whole milliseconds: intervals vary by up to 0.5 ms
        assert np.abs(np.diff(data.time_s) - 1 / RATE_HZ).max() < 0.0007, role  # + the slew of one packet
    settled = {r: o[getattr(sim.session, r).time_s[:o.size] > 15.0] for r, o in offsets.items()}
    assert abs(np.median(settled["pelvis"]) - np.median(settled["trunk"])) < 0.003
    assert all(np.ptp(o) < 0.003 for o in settled.values()), {r: np.ptp(o) for r, o in settled.items()}
    # Against the truth: each sample's time is when the simulated body made it (the fake knows when the run
    # started on this host's monotonic clock); from the 5th second on within 5 ms, the sensors within 3 ms.
    errors_s = _timing_errors_s(fake, recorder, sim.session, sensors)
    for role, err in errors_s.items():
        assert np.abs(err[5 * int(RATE_HZ):]).max() < 0.005, role
    n = min(e.size for e in errors_s.values())
    assert np.abs(errors_s["pelvis"][5 * int(RATE_HZ):n] - errors_s["trunk"][5 * int(RATE_HZ):n]).max() < 0.003
    assert {s["role"]: s["family"] for s in manifest["sensors"]} == {"pelvis": "movesense", "trunk": "polar"}
    assert manifest["runner"] == "ana" and manifest["mass_kg"] == 61
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in folder.iterdir())

    # The recorded session gives the simulator CSV's table (the session clock starts earlier).
    csv = write_simulation(sim, tmp_path / "sim")
    want = analyze(csv["pelvis"], csv["trunk"], mass_kg=61).steps
    got = analyze(session_dir=folder, mass_kg=61).steps
    assert len(got) == len(want) and (got["side"].values == want["side"].values).all()
    shift = float(np.median(got["ic_s"] - want["ic_s"]))
    assert np.abs(got["ic_s"] - want["ic_s"] - shift).max() < 0.005
    bounds = {"contact_time_ms": 5.0, "pelvic_drop_deg": 0.2, "peak_vgrf_bw": 0.02, "trunk_lean_deg": 0.5,
              "pelvis_trunk_rotation_deg": 0.5, "vertical_oscillation_cm": 0.3, "cadence_spm": 2.0}
    for col, bound in bounds.items():
        assert np.abs(got[col] - want[col]).max() < bound, col


async def test_a_dropout_is_reconnected_and_recorded_as_a_gap_and_nothing_else_is_lost(bluez, tmp_path):
    duration_s, drop_at, drop_for = 16.0, 5.0, 2.0
    # With bluetoothd's GATT cache off the link loss also removes the pelvis's GATT objects (InterfacesRemoved) and
    # the reconnection adds them again; the default cache (objects kept) is the live test's trunk drop-out.
    fake = bluez([dict(PELVIS, drops=[[drop_at, drop_for]], gatt_cache="no"), TRUNK], seed=3, duration_s=duration_s)
    sim = simulate_session(sim_config(3, duration_s))
    folder = tmp_path / "session"
    recorder = Recorder({"pelvis": PELVIS["name"], "trunk": TRUNK["address"]}, folder)
    # The pelvis delivers everything but the drop-out; the trunk everything.
    result, truth = await _record_all(recorder, fake, duration_s, duration_s + 15)
    assert result.status["trunk"].samples == truth["devices"][TRUNK["address"]]["samples_sent"]
    assert result.status["pelvis"].reconnects == 1 and result.status["trunk"].reconnects == 0
    events = _events(folder)
    kinds = [(e["kind"], e["role"]) for e in events]
    assert ("disconnect", "pelvis") in kinds and ("reconnect", "pelvis") in kinds
    (gap,) = [e for e in events if e["kind"] == "gap"]
    assert gap["role"] == "pelvis"
    # The gap covers the drop-out plus the reconnection (back-off, scan, connect, restart).
    assert drop_for <= gap["missing_samples"] / RATE_HZ < drop_for + 3.0

    sensors, _ = read_sensors(folder)
    for role, data in sensors.items():
        truth = getattr(sim.session, role)
        # Every recorded sample is the simulator's sample, in order; none is invented.
        idx = np.searchsorted(truth.acc_mps2[:, 0], data.acc_mps2[:, 0])  # not sorted: match below instead
        del idx
        matched = _match_rows(truth.acc_mps2, data.acc_mps2)
        assert (np.diff(matched) >= 1).all()
        missing = np.setdiff1d(np.arange(matched[0], matched[-1] + 1), matched)
        if role == "trunk":
            assert missing.size == 0
        else:  # one run of missing samples: the gap, as long as the event says
            assert missing.size == gap["missing_samples"] and np.ptp(missing) == missing.size - 1
            hole = np.diff(data.time_s).max()
            assert hole == pytest.approx((gap["missing_samples"] + 1) / RATE_HZ, abs=0.01)
            # The gap's edges are the samples' own times either side (as written), and the truth's to 5 ms.
            before = int(np.argmax(np.diff(data.time_s)))
            assert gap["start_s"] == pytest.approx(data.time_s[before], abs=1e-4)
            assert gap["end_s"] == pytest.approx(data.time_s[before + 1], abs=1e-4)
            body_t0_s = fake.truth()["body_t0_monotonic_s"] - recorder.t0
            true_edges_s = body_t0_s + truth.time_s[[matched[before], matched[before + 1]]] - truth.time_s[0]
            assert np.abs(np.array([gap["start_s"], gap["end_s"]]) - true_edges_s).max() < 0.005


def _match_rows(truth: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Index in ``truth`` of each row of ``got`` (float32-exact Movesense / mG Polar values)."""
    out = np.empty(len(got), int)
    j = 0
    for i, row in enumerate(got):
        while np.abs(truth[j] - row).max() > 0.006:
            j += 1
        out[i] = j
        j += 1
    return out


async def test_a_sensor_that_never_appears_is_a_clear_error_after_the_timeout(bluez, tmp_path):
    bluez([TRUNK], duration_s=10)
    recorder = Recorder({"pelvis": "Movesense 000000000000", "trunk": TRUNK["address"]}, tmp_path / "s",
                        connect_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(DeviceError, match="pelvis sensor 'Movesense 000000000000' was not found within 2 s"):
        await recorder.run(10)
    assert time.monotonic() - started < 8
    assert not (tmp_path / "s").exists()  # nothing was recorded, no empty session left behind


async def test_a_sensor_refusing_to_start_stops_the_recording_with_a_clear_error(bluez, tmp_path):
    bluez([PELVIS, dict(TRUNK, refuse=True)], duration_s=10)
    recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["address"]}, tmp_path / "s")
    # What the refusal means (Polar error 5) and what to try.
    with pytest.raises(DeviceError, match="trunk sensor .* refused to start: .*invalid parameter .*error 5.*; "
                                          "switch the sensor off and on"):
        await recorder.run(10)
    events = _events(tmp_path / "s")
    assert any(e["kind"] == "refused" and e["role"] == "trunk" for e in events)


async def test_witmotion_without_device_clock_streams_at_its_rate(bluez, tmp_path):
    rate_hz = 200.0  # WitMotion's nearest rate to 208 Hz (its register table: 10-200 Hz)
    fake = bluez([WITMOTION], seed=4, duration_s=12)
    recorder = Recorder({"pelvis": WITMOTION["address"]}, tmp_path / "s", rate_hz=RATE_HZ)
    result = await recorder.run(6)
    fake.close()
    sensors, _ = read_sensors(tmp_path / "s")
    data = sensors["pelvis"]
    assert result.status["pelvis"].lost_samples == 0
    sent = fake.truth()["devices"][WITMOTION["address"]]["samples_sent"]
    assert data.n > 4 * rate_hz and 0 <= sent - data.n <= 10  # all but those in flight when it stopped
    assert np.median(np.diff(data.time_s)) == pytest.approx(1 / rate_hz, rel=0.02)


def test_sigkill_of_the_recorder_leaves_a_session_that_opens_missing_at_most_the_last_second(
        private_bus, bluez, tmp_path):
    bluez([PELVIS, TRUNK], seed=7, duration_s=30)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=private_bus.address)
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "stridesense.cli", "record", "--pelvis", PELVIS["address"],
                                 "--trunk", TRUNK["address"], "--runner", "kim", "--mass-kg", "58",
                                 "--out", str(tmp_path / "sessions")], env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    folder = None
    while time.monotonic() < deadline and folder is None:
        time.sleep(0.2)
        folder = next((p for p in tmp_path.glob("sessions/kim-*") if (p / "trunk.samples.arrow").exists()), None)
    assert folder is not None, (tmp_path / "stderr.txt").read_text()
    time.sleep(6.0)
    proc.send_signal(signal.SIGKILL)
    killed_at_unix_s = time.time()
    proc.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader may warn of a cut-off last batch: expected after SIGKILL
        sensors, manifest = read_sensors(folder)
    assert manifest["runner"] == "kim" and manifest["mass_kg"] == 58
    killed_at_s = killed_at_unix_s - manifest["meta"]["session_clock_zero_unix_s"]  # on the session clock
    for role, data in sensors.items():
        assert data.n > 4.0 * RATE_HZ, role
        assert (np.diff(data.time_s) > 0).all()
        assert killed_at_s - data.time_s[-1] < 0.75, role  # the last 0.25-s batch and what was in flight


def test_record_and_scan_command_lines(private_bus, bluez, tmp_path, capsys, monkeypatch):
    from stridesense.cli import main

    bluez([PELVIS, TRUNK, SPEAKER], seed=2, duration_s=20)
    assert main(["scan", "--timeout-s", "1.5"]) == 0
    out = capsys.readouterr().out
    assert PELVIS["name"] in out and TRUNK["address"] in out and "movesense" in out and SPEAKER["name"] not in out
    assert main(["record", "--pelvis", PELVIS["name"], "--trunk", TRUNK["name"], "--runner", "ana",
                 "--mass-kg", "61", "--out", str(tmp_path), "--duration-s", "8"]) == 0
    out = capsys.readouterr().out
    (folder,) = tmp_path.glob("ana-*")
    assert str(folder) in out and "stridesense analyze" in out
    assert main(["record", "--pelvis", "x", "--mass-kg", "-3"]) == 2
    assert "mass" in capsys.readouterr().err


def test_record_of_a_sensor_that_sends_nothing_readable_exits_non_zero_naming_it(private_bus, bluez, tmp_path, capsys):
    from stridesense.cli import main

    bluez([dict(PELVIS, garbled=True)], duration_s=10)
    assert main(["record", "--pelvis", PELVIS["address"], "--out", str(tmp_path), "--duration-s", "2"]) == 2
    captured = capsys.readouterr()
    assert "Session closed" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("stridesense record: error: pelvis sensor '0C:8C:DC:00:00:01' (Movesense") and \
        "delivered no samples" in line and "first bytes" in line
    (folder,) = tmp_path.glob("session-*")
    assert (folder / "pelvis.raw.arrow").stat().st_size > 1000  # kept for diagnosis


async def test_a_full_disk_stops_the_recording_with_a_clear_error_keeping_what_was_written(bluez, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    bluez([dict(PELVIS, drops=[[4.0, 1.0]]), TRUNK], seed=5, duration_s=20)
    folder = tmp_path / "s"
    recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["address"]}, folder)

    def fill_the_disk_before_the_first_event(rec):
        if folder.exists() and not (folder / "events.jsonl").exists():
            os.symlink("/dev/full", folder / "events.jsonl")  # the next event written finds the disk full

    with pytest.raises(RecordingError, match="disk is full; what was written so far is kept"):
        await recorder.run(15, on_status=fill_the_disk_before_the_first_event, status_every_s=0.2)
    sensors, _ = read_sensors(folder)
    assert sensors["pelvis"].n > 3 * RATE_HZ and sensors["trunk"].n > 3 * RATE_HZ


def test_record_into_a_place_that_cannot_be_written_fails_before_connecting(tmp_path, capsys):
    from stridesense.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    started = time.monotonic()
    assert main(["record", "--pelvis", "AA:BB:CC:DD:EE:FF", "--out", str(blocker / "sessions")]) == 2
    err = capsys.readouterr().err
    assert "cannot write sessions to" in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - started < 2  # no Bluetooth scan was started


async def test_a_second_discovery_from_one_client_is_refused_as_bluetoothd_does(bluez):
    from bleak import BleakScanner
    from bleak.exc import BleakDBusError

    bluez([PELVIS], duration_s=10)
    async with BleakScanner():
        with pytest.raises(BleakDBusError, match="org.bluez.Error.InProgress"):
            async with BleakScanner():
                pass
    async with BleakScanner():  # the first session ended: a new one may start
        pass


async def test_sensors_are_found_in_one_scan_by_the_id_printed_on_them(bluez, tmp_path):
    bluez([PELVIS, TRUNK, SPEAKER], seed=6, duration_s=10)
    pelvis_id, trunk_id = PELVIS["name"].split()[-1], TRUNK["name"].split()[-1].lower()  # "221830000001", "b5a2c12f"
    recorder = Recorder({"pelvis": pelvis_id, "trunk": trunk_id}, tmp_path / "s", connect_timeout_s=5)
    result = await _record_until(recorder, {"pelvis": 400, "trunk": 400}, 8)
    assert {r: s.name for r, s in result.status.items()} == {"pelvis": PELVIS["name"], "trunk": TRUNK["name"]}
    assert min(s.samples for s in result.status.values()) >= 400
    _, manifest = read_sensors(tmp_path / "s")
    assert {s["role"]: s["mtu"] for s in manifest["sensors"]} == {"pelvis": 247, "trunk": 247}
    # Read from each sensor's Device Information service (the fake's Firmware Revision String).
    assert {s["role"]: s["firmware"] for s in manifest["sensors"]} == {"pelvis": "2.1.0", "trunk": "2.1.0"}


async def test_a_sensor_that_delivers_no_samples_fails_naming_it_and_its_packets_keeping_the_raw_bytes(
        bluez, tmp_path):
    bluez([PELVIS, dict(TRUNK, garbled=True)], duration_s=10)
    recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["address"]}, tmp_path / "s")
    with pytest.raises(DeviceError) as raised:
        await recorder.run(3)
    message = str(raised.value)
    assert "trunk sensor 'A0:9E:1A:00:00:02' (Polar Sense B5A2C12F, polar) delivered no samples" in message
    assert "notifications (" in message and "ee ee ee" in message and "dropped as 'PMD measurement type" in message
    assert recorder.status["pelvis"].samples > 2 * RATE_HZ  # the other sensor recorded meanwhile
    import pyarrow.ipc

    raw = pyarrow.ipc.open_stream(tmp_path / "s" / "trunk.raw.arrow").read_all()
    assert raw.num_rows == recorder.status["trunk"].notifications > 0
    data_rows = [p for u, p in zip(raw.column("char_uuid").to_pylist(), raw.column("payload").to_pylist())
                 if u == "fb005c82-02e7-f387-1cad-8acd2d8df0c8"]  # the PMD data characteristic
    assert data_rows and all(set(p) == {0xEE} for p in data_rows)
