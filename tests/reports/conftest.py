"""Simulated session folders with known truth, analysed once for all report tests."""

import dataclasses
import json

import pytest

from stridesense.models.simulator import SimConfig, simulate_session
from stridesense.streaming.recording import write_session

# A known, asymmetric pelvic drop (left stance 4 deg, right stance 9 deg) and a known trunk lean.
KNOWN = dict(pelvic_drop_deg=(4.0, 9.0), trunk_lean_deg=6.0, n_turns=0, fatigue=0.0)


def make_session(folder, seed, duration_s=60.0, runner="ana", created=None, **cfg):
    """Write a simulated native session folder; returns (folder, the simulation)."""
    sim = simulate_session(SimConfig(seed=seed, duration_s=duration_s, **{**KNOWN, **cfg}))
    session = dataclasses.replace(sim.session, runner=runner)
    write_session(folder, session)
    if created is not None:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["created"] = created
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, sim


@pytest.fixture(scope="session")
def known_session(tmp_path_factory):
    """(folder, simulation) of a 60-s session with the KNOWN drop and lean."""
    return make_session(tmp_path_factory.mktemp("known") / "ana-1", seed=41)


@pytest.fixture(scope="session")
def known_data(known_session):
    from stridesense.reports.data import load_session_data

    return load_session_data(known_session[0])
