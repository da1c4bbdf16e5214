"""Peak force models: the spring-mass relation and the choice between it and the pelvis' own peak."""

import numpy as np
import pytest

from stridesense.models.impact import (
    IMPULSE_TOLERANCE,
    PELVIS_ACC,
    SPRING_MASS,
    SPRING_MASS_BAND,
    choose_peak,
    spring_mass_peak_bw,
)


@pytest.mark.parametrize("contact_s,step_s", [(0.25, 0.33), (0.18, 0.36), (0.30, 0.34)])
def test_spring_mass_peak_is_the_half_sine_whose_impulse_carries_body_weight_over_the_step(contact_s, step_s):
    # Numerically: the half sine of unit peak over the contact, scaled so that its mean over the step is 1 BW.
    t = np.linspace(0.0, step_s, 200001)
    shape = np.where(t < contact_s, np.sin(np.pi * t / contact_s), 0.0)
    peak = 1.0 / np.trapezoid(shape, t) * step_s
    assert spring_mass_peak_bw(contact_s, step_s) == pytest.approx(peak, rel=1e-4)


def test_pelvis_peak_kept_where_the_spring_mass_relation_vouches_for_it():
    sm = spring_mass_peak_bw(0.25, 0.35)
    pelvis = np.array([sm, sm * 1.1, sm * 0.9])
    peak, model = choose_peak(pelvis, np.full(3, 0.25), np.full(3, 0.35))
    assert np.array_equal(peak, pelvis) and set(model) == {PELVIS_ACC}


def test_a_pelvis_peak_outside_the_band_is_replaced_by_the_spring_mass_peak():
    sm = spring_mass_peak_bw(0.25, 0.35)
    hi = SPRING_MASS_BAND[1]
    pelvis = np.array([sm * (hi + 0.05), sm * 2.0, sm * 0.5])  # soft tissue overshoot; a low, clipped signal
    peak, model = choose_peak(pelvis, np.full(3, 0.25), np.full(3, 0.35))
    assert peak == pytest.approx(np.full(3, sm)) and set(model) == {SPRING_MASS}


def test_no_contact_time_no_peak_and_no_model():
    peak, model = choose_peak(np.array([2.5]), np.array([np.nan]), np.array([0.35]))
    assert np.isnan(peak[0]) and model[0] == ""


def test_a_pelvis_whose_stance_impulse_does_not_carry_body_weight_is_not_the_centre_of_mass():
    # Its peak agrees with the spring-mass one, but its stance holds more than body weight x step time
    # (a sensor on soft tissue, a tilted vertical): the pelvis is not the centre of mass here.
    sm = spring_mass_peak_bw(0.25, 0.35)
    impulse = np.array([1.0, 1.0 + IMPULSE_TOLERANCE + 0.02, 1.0 - IMPULSE_TOLERANCE - 0.02])
    peak, model = choose_peak(np.full(3, sm * 1.05), np.full(3, 0.25), np.full(3, 0.35), impulse)
    assert list(model) == [PELVIS_ACC, SPRING_MASS, SPRING_MASS]
    assert peak[1:] == pytest.approx([sm, sm])
