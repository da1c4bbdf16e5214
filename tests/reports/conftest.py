"""Simulated session folders with known truth, analysed once for all report tests."""

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
