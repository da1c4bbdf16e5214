"""`stridesense redecode`: a recorded session decoded again from its raw bytes, with the final clock fit."""

import json

import numpy as np
import pytest
from ble_harness import PELVIS, RATE_HZ, TRUNK, bluez, needs_dbus, private_bus, sim_config  # noqa: F401

from stridesense.errors import DeviceError, ProtocolError, RecordingError
from stridesense.models.simulator import simulate_session
from stridesense.streaming import redecode as redecode_module
from stridesense.streaming.ble import Recorder, release_bluetooth
from stridesense.streaming.devices import FAMILIES
from stridesense.streaming.recording import read_sensors

pytestmark = needs_dbus


@pytest.fixture(autouse=True)
async def _bleak_bus_closed():
    yield
    await release_bluetooth()


class _BuggyDecoder:
    """A decoder with a bug: it reads nothing (as the Polar decoder did before issue 10)."""

    rate_hz = RATE_HZ

    def decode(self, uuid, payload):
        raise ProtocolError("bit width 106", payload)


async def test_a_session_recorded_with_a_buggy_decoder_is_repaired_on_the_final_clock_fit(
        bluez, tmp_path, monkeypatch, capsys):
    from stridesense.cli import main

    duration_s = 12.0
    fake = bluez([PELVIS, TRUNK], seed=8, duration_s=duration_s + 5)
    folder = tmp_path / "s"
    with monkeypatch.context() as m:
        m.setattr(FAMILIES["movesense"], "decoder", classmethod(lambda cls, rate_hz: _BuggyDecoder()))
        recorder = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["address"]}, folder)
        with pytest.raises(DeviceError, match="pelvis sensor .* delivered no samples: .*bit width 106"):
            await recorder.run(duration_s)
    trunk_live = read_sensors(folder)[0]["trunk"]
    assert read_sensors(folder)[0]["pelvis"].n == 0

    assert main(["redecode", str(folder)]) == 0
    assert "pelvis: 0 -> " in capsys.readouterr().out
    sensors, manifest = read_sensors(folder)
    truth = simulate_session(sim_config(8, duration_s + 5)).session
    body_t0_s = fake.truth()["body_t0_monotonic_s"] - recorder.t0
    for role, data in sensors.items():
        sent = getattr(truth, role)
        assert data.n > (duration_s - 1) * RATE_HZ, role
        assert np.abs(data.acc_mps2 - sent.acc_mps2[:data.n]).max() < 0.01, role
        # One final fit for the whole session: every sample within 5 ms of the truth, the first seconds too.
        err_s = data.time_s - (body_t0_s + sent.time_s[:data.n] - sent.time_s[0])
        assert np.abs(err_s).max() < 0.005, (role, np.abs(err_s).max())
    assert sensors["trunk"].n == trunk_live.n  # the decoder that worked gives the same samples again
    entry = {s["role"]: s for s in manifest["sensors"]}["pelvis"]
    assert entry["samples"] == sensors["pelvis"].n and entry["redecoded_with"].startswith("stridesense")
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["role"] == "pelvis" and e["kind"] == "dropped_packet"]


async def test_a_redecode_that_fails_midway_leaves_the_old_samples_untouched(bluez, tmp_path, monkeypatch):
    bluez([PELVIS], seed=9, duration_s=10)
    folder = tmp_path / "s"
    await Recorder({"pelvis": PELVIS["address"]}, folder).run(4)
    before = (folder / "pelvis.samples.arrow").read_bytes()
    assert len(before) > 10_000

    def disk_full(self, columns):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(redecode_module._StreamFile, "write", disk_full)
    with pytest.raises(RecordingError, match="No space left on device.*the old ones are kept"):
        redecode_module.redecode(folder)
    assert (folder / "pelvis.samples.arrow").read_bytes() == before
    assert not list(folder.glob("*.new"))
