"""The simulated Bluetooth world of the tests: a private D-Bus with a fake BlueZ on it."""

from __future__ import annotations

import shutil

import pytest

from stridesense.streaming.fake_bluez import DEMO_DEVICES

PELVIS, TRUNK = DEMO_DEVICES  # a Movesense on the pelvis, a Polar Verity Sense on the trunk
WITMOTION = {"address": "D4:C5:3C:00:00:03", "name": "WT901BLE67", "family": "witmotion", "role": "pelvis"}
SPEAKER = {"address": "11:22:33:44:55:66", "name": "Kitchen speaker", "family": None}

needs_dbus = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="dbus-daemon (Debian package dbus) is not installed")

RATE_HZ = 208.0  # the devices' nearest rate to 200 Hz


def sim_config(seed: int, duration_s: float):
    """The simulated run the fake's devices stream."""
    from stridesense.streaming.fake_bluez import simulation_config

    return simulation_config(seed, duration_s, RATE_HZ)


@pytest.fixture(scope="module")
def private_bus():
    """A private dbus-daemon, shared by a test module."""
    from stridesense.streaming.fake_bluez import PrivateBus

    with PrivateBus() as bus:
        yield bus


@pytest.fixture
def bluez(private_bus, monkeypatch, tmp_path_factory):
    """``start(devices, seed=, duration_s=)`` serves a fake BlueZ on the private bus; bleak is pointed at it.

    The fake it returns tells the simulation's truth (``fake.truth()``).
    """
    from stridesense.streaming.fake_bluez import FakeBlueZ

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus.address)
    started = []

    def start(devices, seed=11, duration_s=30.0, **extra):
        truth = tmp_path_factory.mktemp("truth") / "truth.json"
        fake = FakeBlueZ(private_bus.address, {"seed": seed, "duration_s": duration_s, "rate_hz": RATE_HZ,
                                               "devices": devices, "truth_path": str(truth), **extra})
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()
