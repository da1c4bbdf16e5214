"""Shared fixtures: simulated sessions are costly, so they are made once per run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stridesense.models.simulator import SimConfig, simulate_session  # noqa: E402


@pytest.fixture(scope="session")
def sim_short():
    """75 s, pelvis 200 Hz + trunk 104 Hz, random mounts, one turn."""
    return simulate_session(SimConfig(seed=11, duration_s=75.0, n_turns=1))


@pytest.fixture(scope="session")
def sim_straight():
    """60 s straight running, no turns, pelvis and trunk at 200 Hz."""
    return simulate_session(SimConfig(seed=5, duration_s=60.0, n_turns=0, trunk_rate_hz=200.0))
