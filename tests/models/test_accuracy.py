"""Accuracy against the simulator's ground truth over 20 varied sessions.

Seeds vary rates (100-400 Hz), cadence (150-200 spm), speed (2-6 m/s),
mounting, asymmetry, fatigue, turns and noise (tests/accuracy_cases.py).
The pipeline sees only the sensor samples; the truth comes from the
simulator's own continuous body model.  Bounds are the issue's targets.
"""

import numpy as np
import pytest

from accuracy_cases import ACCURACY_SEEDS, accuracy_config
from stridesense.models.simulator import simulate_session
from stridesense.models.validation import compare_to_truth
from stridesense.pipeline import Analyzer


@pytest.fixture(scope="module")
def comparisons():
    out = {}
    for seed in ACCURACY_SEEDS:
        sim = simulate_session(accuracy_config(seed))
        analyzer = Analyzer(mass_kg=sim.session.mass_kg)
        analyzer.push(sim.session.pelvis, sim.session.trunk)
        analyzer.flush()
        out[seed] = compare_to_truth(analyzer.steps, sim.truth)
    return out


def test_every_step_is_found_with_no_extra_and_sides_right(comparisons):
    for seed, c in comparisons.items():
        assert c.n_matched == c.n_truth, seed
        assert c.n_extra == 0, seed
        assert c.side_accuracy >= 0.99, seed


def test_initial_contact_and_contact_time_errors(comparisons):
    ic = np.concatenate([c.ic_abs_ms for c in comparisons.values()])
    assert np.median(ic) <= 5.0
    assert np.percentile(ic, 95) <= 15.0
    for seed, c in comparisons.items():
        assert c.mean_abs["contact_time_ms"] <= 15.0, seed


@pytest.mark.parametrize("metric", ["pelvic_drop_deg", "trunk_lean_deg"])
def test_pelvic_drop_and_trunk_lean_within_a_degree_per_step_and_half_per_session(comparisons, metric):
    for seed, c in comparisons.items():
        assert c.mean_abs[metric] <= 1.0, seed
        # Session means as the summary reports them: over steps without quality remarks.
        trusted = (c.estimate["quality"] == "ok").to_numpy()
        assert abs(c.errors[metric][trusted].mean()) <= 0.5, seed


def test_impact_force_vertical_oscillation_and_counter_rotation(comparisons):
    for seed, c in comparisons.items():
        assert c.mean_abs["peak_vgrf_bw"] <= 0.10, seed
        assert c.mean_abs["vertical_oscillation_cm"] <= 1.0, seed
        assert c.mean_abs["pelvis_trunk_rotation_deg"] <= 2.0, seed
        assert c.mean_abs["pelvic_rotation_deg"] <= 2.0, seed
        assert c.mean_abs["pelvic_tilt_deg"] <= 1.0, seed


def test_loading_rate_within_15_percent_on_most_sessions(comparisons):
    """Experimental metric: the impact peak's definition (first clear local
    maximum) is discontinuous when the heel-strike hump is marginal, and some
    sessions then miss it; the median session must be within 15 %."""
    rel = np.array([c.mean_abs["loading_rate_bw_s"] for c in comparisons.values()])
    assert np.median(rel) <= 0.15
    assert (rel <= 0.15).mean() >= 0.6


@pytest.mark.parametrize("metric", ["pelvic_rotation_deg", "pelvis_trunk_rotation_deg"])
def test_axial_rotation_is_not_read_systematically_low_or_high(comparisons, metric):
    """A trend line fitted to each stride's own yaw read these sessions' rotation 0.7-2.8 deg high on average."""
    for seed, c in comparisons.items():
        assert abs(np.nanmean(c.errors[metric])) <= 0.3, seed
