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
    step_impulse_factor,
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


def _alternating_steps(d: float, scale: float, offset_mps2: float = 0.0, n_steps: int = 12, fs: float = 1000.0):
    """A runner whose left steps carry (1 + d) and right steps (1 - d) body weights x step time; a sensor with a
    scale error (and offset) reads its vertical specific force.  Steps of 0.33 s, half-sine stances of 0.24 s."""
    g, step_s, contact_s = 9.81, 0.33, 0.24
    t = np.arange(0.0, n_steps * step_s, 1.0 / fs)
    ic = np.arange(n_steps + 1) * step_s
    f = np.zeros_like(t)
    for k in range(n_steps):
        imp = 1.0 + (d if k % 2 == 0 else -d)
        u = t - ic[k]
        stance = (u >= 0) & (u < contact_s)
        f[stance] = g * np.pi / 2 * step_s / contact_s * imp * np.sin(np.pi * u[stance] / contact_s)
    return t, scale * f + offset_mps2, ic


def test_step_impulse_factor_reads_each_steps_own_impulse_through_a_sensors_scale_error():
    t, f, ic = _alternating_steps(d=0.06, scale=1.17)  # the force treadmill's sacral signal averages 1.17 g
    k = np.arange(1, 10)
    got = step_impulse_factor(t, f, (ic[k], ic[k + 1]), (ic[k], ic[k + 2]))
    want = np.where(k % 2 == 0, 1.06, 0.94)
    assert got == pytest.approx(want, abs=0.005)


def test_step_impulse_factor_is_one_on_alike_steps_and_where_the_signal_does_not_cover_the_stride():
    t, f, ic = _alternating_steps(d=0.0, scale=1.0)
    k = np.arange(0, 10)
    assert step_impulse_factor(t, f, (ic[k], ic[k + 1]), (ic[k], ic[k + 2])) == pytest.approx(np.ones(10), abs=0.005)
    t2, f2, ic2 = _alternating_steps(d=0.06, scale=1.0)
    late = t2 > ic2[3]  # the signal starts after the stride's first contact
    assert step_impulse_factor(t2[late], f2[late], (ic2[4:5], ic2[5:6]), (ic2[3:4], ic2[5:6]))[0] == 1.0


def test_a_step_mean_that_is_no_steps_momentum_is_not_used():
    t, f, ic = _alternating_steps(d=0.0, scale=1.0)
    f[(t > ic[4]) & (t < ic[5])] = 0.0  # a gap read as zeros: the step's mean is far from the stride's
    assert step_impulse_factor(t, f, (ic[4:5], ic[5:6]), (ic[4:5], ic[6:7]))[0] == 1.0


def test_spring_mass_peak_carries_the_steps_own_impulse():
    # A step that gains vertical momentum needs a half sine of proportionally more impulse.
    t = np.linspace(0.0, 0.25, 200001)
    peak = 1.06 * 0.35 / np.trapezoid(np.sin(np.pi * t / 0.25), t)
    assert spring_mass_peak_bw(0.25, 0.35, 1.06) == pytest.approx(peak, rel=1e-4)


def test_peak_force_follows_left_and_right_steps_that_carry_unlike_impulses():
    # Simulated runner whose left steps gain 0.15 m/s of vertical velocity and right steps lose it (the force
    # treadmill's runner alternates like this), contact times alike: the truth's left peaks stand ~0.2 BW higher.
    from stridesense.api import analyze_session
    from stridesense.models.simulator import SimConfig, simulate_session

    sim = simulate_session(SimConfig(seed=21, duration_s=50.0, n_turns=0, contact_asymmetry=0.0,
                                     step_velocity_change_mps=0.15))
    steps, truth = analyze_session(sim.session).steps, sim.truth
    j = np.abs(steps.ic_s.to_numpy()[None, :] - truth.ic_s.to_numpy()[:, None]).argmin(axis=1)
    ok = np.abs(steps.ic_s.to_numpy()[j] - truth.ic_s.to_numpy()) < 0.06
    got = steps.iloc[j].reset_index(drop=True)[ok]
    want = truth[ok]
    left = (want.side == "L").to_numpy()
    lr_true = want.peak_vgrf_bw[left].mean() - want.peak_vgrf_bw[~left].mean()
    lr_got = got.peak_vgrf_bw[left].mean() - got.peak_vgrf_bw[~left].mean()
    assert ok.mean() > 0.95 and lr_true > 0.15
    assert abs(lr_got - lr_true) < 0.05
    # The pelvis moves with the centre of mass here: the momentum check keeps its own peak.
    assert (got.impact_model == PELVIS_ACC).mean() > 0.9
    assert np.sqrt(np.mean((got.peak_vgrf_bw.to_numpy() - want.peak_vgrf_bw.to_numpy()) ** 2)) < 0.08
