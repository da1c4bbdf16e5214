"""Simulated session folders with known truth, analysed once for all report tests."""

from pathlib import Path

import pandas as pd
import pytest

from sim_sessions import make_session


@pytest.fixture(scope="session")
def known_session(tmp_path_factory):
    """(folder, simulation) of a 60-s session with the KNOWN drop and lean."""
    return make_session(tmp_path_factory.mktemp("known") / "ana-1", seed=41)


@pytest.fixture(scope="session")
def known_data(known_session):
    from stridesense.reports.data import load_session_data

    return load_session_data(known_session[0])


SIM_EXTERNAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "sim-external"


@pytest.fixture(scope="session")
def no_standing_session(tmp_path_factory):
    """(folder, simulation): the KNOWN session recorded from mid-run, with no standing period."""
    return make_session(tmp_path_factory.mktemp("nostand") / "ana-2", seed=41, start_in_motion=True)


def outside_folder(tmp_path, *, cut_first_s: float = 0.0, trunk_lost_s: tuple | None = None) -> Path:
    """The outside simulator's session1 as a generic-CSV folder, its first ``cut_first_s`` cut off (its 8 s of
    standing with them), or the trunk's samples within ``trunk_lost_s`` left out (a lost trunk sensor)."""
    source = SIM_EXTERNAL / "session1"
    if not source.exists():
        pytest.skip("../shared/data/sim-external is not here")
    folder = tmp_path / "outside"
    folder.mkdir()
    for name in ("pelvis.csv", "trunk.csv"):
        samples = pd.read_csv(source / name)
        keep = samples["time_s"] >= samples["time_s"].iloc[0] + cut_first_s
        if trunk_lost_s and name == "trunk.csv":
            keep &= ~samples["time_s"].between(*trunk_lost_s)
        samples[keep].to_csv(folder / name, index=False)
    return folder
