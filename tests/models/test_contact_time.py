"""Toe-off from a low-passed stance wave, against stances whose toe-off is known by construction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfiltfilt

from stridesense.models.contact_time import MIN_STANCE_S, STANCE_CUTOFF_HZ, combine, toe_off_s

FS = 200.0


def stance_train(contact_s, flight_s, n=12, fs=FS, tail=None):
    """Half-sine stances carrying body weight (peak pi/2 * T / tc, g) with flights at 0 g.

    ``tail(t_since_toe_off_s)``: what a sacral sensor adds after each toe-off, g.
    Returns times, signal (g), contacts, toe-offs.
    """
    period = contact_s + flight_s
    t = np.arange(0.0, n * period, 1.0 / fs)
    phase = t % period
    peak = np.pi / 2 * period / contact_s
    f = np.where(phase < contact_s, peak * np.sin(np.pi * phase / contact_s), 0.0)
    if tail is not None:
        after = phase >= contact_s
        f[after] += tail(phase[after] - contact_s)
    ic = np.arange(n) * period
    return t, f, ic, ic + contact_s


def lowpass_g(f, fs=FS):
    return sosfiltfilt(butter(4, STANCE_CUTOFF_HZ, fs=fs, output="sos"), f)


@pytest.mark.parametrize("contact_s,flight_s", [(0.18, 0.14), (0.22, 0.10), (0.26, 0.06), (0.30, 0.04), (0.24, 0.16)])
def test_toe_off_of_a_clean_half_sine_stance_within_2_ms(contact_s, flight_s):
    t, f, ic, to_true = stance_train(contact_s, flight_s)
    inner = slice(2, -2)  # away from the filter's start and end
    to = toe_off_s(t, lowpass_g(f), ic[inner], ic[inner] + contact_s + flight_s)
    assert np.all(np.abs(to - to_true[inner]) < 0.002)


def test_a_sacral_tail_after_toe_off_moves_the_toe_off_by_less_than_12_ms():
    # After toe-off the sensor trails at 0.4 g, fading over 40 ms (as on the force treadmill's sacral signal).
    tail = lambda s: 0.4 * np.exp(-s / 0.04)
    t, f, ic, to_true = stance_train(0.24, 0.10, tail=tail)
    to = toe_off_s(t, lowpass_g(f), ic[2:-2], ic[2:-2] + 0.34)
    assert np.all(np.abs(to - to_true[2:-2]) < 0.012)


@pytest.mark.parametrize("contact_s,flight_s", [(0.24, 0.08), (0.24, 0.12), (0.20, 0.15), (0.30, 0.04)])
def test_a_floor_of_0_3_g_under_the_whole_signal_moves_the_toe_off_by_less_than_10_ms(contact_s, flight_s):
    # A vertical estimated off lifts flight and stance alike (the force treadmill's two-axis signals: 0.3-0.5 g);
    # the edge extended to 0 g instead of the floor would land 13-21 ms late here.
    t, f, ic, to_true = stance_train(contact_s, flight_s)
    to = toe_off_s(t, lowpass_g(f + 0.3), ic[2:-2], ic[2:-2] + contact_s + flight_s)
    assert np.all(np.abs(to - to_true[2:-2]) < 0.010)


def test_a_stance_that_does_not_end_within_its_step_gets_no_toe_off():
    t, f, ic, _ = stance_train(0.24, 0.10)
    # The next contact 'comes' before the force has fallen: no toe-off can be placed in the step.
    to = toe_off_s(t, lowpass_g(f), ic[3:5], ic[3:5] + 0.15)
    assert np.isnan(to).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 0.6))
def test_toe_off_is_never_after_the_next_contact_nor_inside_the_shortest_stance(seed, step_s):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 6.0, 1.0 / FS)
    x = lowpass_g(np.abs(rng.normal(1.0, 1.5, t.size)))
    ic = np.arange(0.5, 5.0, step_s)
    to = toe_off_s(t, x, ic, ic + step_s)
    placed = np.isfinite(to)
    assert np.all(to[placed] <= ic[placed] + step_s)
    assert np.all(to[placed] >= ic[placed] + MIN_STANCE_S)


def test_the_detectors_toe_off_is_kept_only_where_the_two_reads_agree():
    ic, nxt = np.array([0.0, 0.0, 0.0]), np.array([0.35, 0.35, 0.35])
    wave = np.array([0.240, 0.240, np.nan])
    edge = np.array([0.245, 0.290, 0.250])  # agrees; a sacral tail 50 ms late; no wave read: not placed
    assert np.array_equal(combine(edge, wave, ic, nxt), np.array([0.245, 0.240, np.nan]), equal_nan=True)


def test_the_choice_between_the_two_reads_has_no_jump():
    # A disagreement sweeping through the threshold: the toe-off may move by no more than the disagreement does
    # (a hard switch moved it by the whole 10 ms at once).
    d_s = np.linspace(0.0, 0.04, 4001)
    wave = np.full(d_s.size, 0.240)
    to = combine(wave + d_s, wave, np.zeros(d_s.size), np.full(d_s.size, 0.35))
    assert np.max(np.abs(np.diff(to))) <= 2.0 * np.max(np.diff(d_s)) + 1e-12
    assert to[0] == wave[0] and to[-1] == wave[-1]  # agreeing: the detector's (equal here); far apart: the wave's
    assert np.all(to[d_s <= 0.010] == (wave + d_s)[d_s <= 0.010])  # within AGREE_S: the detector's exactly
