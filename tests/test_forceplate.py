"""Contact time and peak force against a force treadmill (real sacral signals; shared data, skipped without it).

Alcantara, Edwards, Millet & Grabowski 2022, PeerJ 10:e12752: one runner, 16 development trials
(../shared/data/real/alcantara-dev, README there), laid end to end in one CSV with the medio-lateral
axis left empty as published, analysed as a user would.  Bounds are the development figures with a
margin (benchmarks/forceplate.py prints them per speed and slope); the held-back trials judge.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stridesense.api import analyze
from stridesense.models.impact import spring_mass_peak_bw

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "alcantara-dev"
TRIAL_S = 4.96

pytestmark = pytest.mark.skipif(not (DATA / "trials.csv").exists(), reason="force-treadmill trials not present")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    trials = pd.read_csv(DATA / "trials.csv").trial.tolist()
    parts = []
    for k, i in enumerate(trials):
        x = pd.read_csv(DATA / f"trial{i:02d}_imu.csv")
        x["time_s"] += k * TRIAL_S
        parts.append(x)
    path = tmp_path_factory.mktemp("alcantara") / "pelvis.csv"
    pd.concat(parts).to_csv(path, index=False, float_format="%.6f")  # acc_y stays empty
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = analyze(pelvis=path, mass_kg=76.8).steps
    ref = pd.read_csv(DATA / "reference_events.csv")
    ref = ref[~ref.partial_at_trial_edge.astype(bool)]
    ic_true = (ref.ic_s + ref.trial.map({t: k for k, t in enumerate(trials)}) * TRIAL_S).to_numpy()
    j = np.abs(steps.ic_s.to_numpy()[None, :] - ic_true[:, None]).argmin(axis=1)
    ok = np.abs(steps.ic_s.to_numpy()[j] - ic_true) < 0.08
    return steps, steps.iloc[j[ok]].reset_index(drop=True), ref[ok].reset_index(drop=True), ok, caught


def test_a_pelvis_file_without_its_lateral_axis_is_analysed_and_says_what_it_lacks(analysed):
    steps, _, _, _, caught = analysed
    assert len(steps) > 200
    assert any("acc_y is empty" in str(w.message) for w in caught)
    assert steps.quality.str.contains("side_uncertain").all()


def test_contacts_found_and_contact_time_within_20_ms_rmse_of_the_force_plate(analysed):
    _, got, ref, ok, _ = analysed
    err_ms = got.contact_time_ms - 1000 * ref.contact_s
    assert ok.mean() >= 0.95
    assert np.sqrt(np.nanmean(err_ms ** 2)) <= 20.0
    assert err_ms.isna().mean() < 0.05  # toe-offs left unplaced are few


def test_no_step_has_a_contact_longer_than_the_step(analysed):
    steps = analysed[0]
    assert (steps.flight_time_ms.dropna() >= 0).all()
    unplaced = steps.quality.str.contains("toe_off_unplaced")
    assert steps.contact_time_ms[unplaced].isna().all() and steps.contact_time_ms[~unplaced].notna().all()


def test_peak_force_within_0_25_bw_rmse_and_says_its_model(analysed):
    # Target 0.15 BW (issue 15) is not met: 0.18 BW on these trials (docs/metrics.md says why).
    _, got, ref, _, _ = analysed
    err = got.peak_vgrf_bw - ref.peak_grf_bw
    assert np.sqrt(np.nanmean(err ** 2)) <= 0.25
    assert set(got.impact_model) <= {"spring_mass", "pelvis_acc", ""}
    assert (got.impact_model == "spring_mass").mean() > 0.8


def test_spring_mass_peak_on_the_force_plates_own_times_falls_short_of_the_force_by_a_few_per_cent():
    # The model's own limit, timing aside: a half sine over the plate's contact carrying body weight over the
    # plate's step (0.189 BW RMSE, 3 % low; Morin et al. 2005 found 3.2 % overground, 6.9 % on a treadmill).
    ref = pd.read_csv(DATA / "reference_events.csv")
    ref = ref[~ref.partial_at_trial_edge.astype(bool) & ref.flight_to_next_s.notna()]
    model = spring_mass_peak_bw(ref.contact_s.to_numpy(), (ref.contact_s + ref.flight_to_next_s).to_numpy())
    ratio = model / ref.peak_grf_bw.to_numpy()
    assert len(ref) > 200
    assert np.sqrt(np.mean((model - ref.peak_grf_bw.to_numpy()) ** 2)) <= 0.20
    assert 0.93 <= np.mean(ratio) <= 0.99
    assert np.percentile(ratio, 2.5) >= 0.80 and np.percentile(ratio, 97.5) <= 1.12  # the shape's spread
