"""Simulated native session folders with a known drop and lean, for the report and library tests."""

import dataclasses
import json

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
        manifest["created"] = manifest["recorded_at"] = created  # the run's date (the 10 % rule's)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, sim
