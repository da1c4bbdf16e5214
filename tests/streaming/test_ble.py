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
from stridesense.errors import DeviceError
from stridesense.models.simulator import simulate_session, write_simulation
from stridesense.streaming.ble import Recorder, scan
from stridesense.streaming.recording import read_sensors

pytestmark = needs_dbus


def _events(folder):
    path = folder / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


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
    bluez([PELVIS, TRUNK], seed=11, duration_s=duration_s)
    sim = simulate_session(sim_config(11, duration_s))
    expected = {"pelvis": sim.session.pelvis.n // 8 * 8, "trunk": sim.session.trunk.n // 36 * 36}
    folder = tmp_path / "session"
    recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["name"]}, folder, runner="ana", mass_kg=61)
    result = await _record_until(recorder, expected, duration_s + 20)

    # Every sample arrived, at the device's rate, and nothing was lost or dropped.
    for role, n in expected.items():
        s = result.status[role]
        assert (s.samples, s.lost_samples, s.dropped_packets, s.reconnects) == (n, 0, 0, 0), role
    sensors, manifest = read_sensors(folder)
    for role, data in sensors.items():
        rate = (data.n - 1) / (data.time_s[-1] - data.time_s[0])
        assert rate == pytest.approx(RATE_HZ, rel=1e-3), role
        truth = getattr(sim.session, role)
        assert np.abs(data.acc_mps2 - truth.acc_mps2[:data.n]).max() < 0.01  # mG resolution of Polar
        assert np.abs(data.gyr_radps - truth.gyr_radps[:data.n]).max() < 0.002  # 0.06 deg/s resolution of Polar
    # Both device clocks on one session clock: the sensors stay aligned to within 3 ms.
    offsets = {r: d.time_s - getattr(sim.session, r).time_s[:d.n] for r, d in sensors.items()}
    assert abs(np.median(offsets["pelvis"]) - np.median(offsets["trunk"])) < 0.003
    assert all(np.ptp(o) < 0.005 for o in offsets.values()), {r: np.ptp(o) for r, o in offsets.items()}
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
