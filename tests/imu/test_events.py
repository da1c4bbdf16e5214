import numpy as np
import pytest

from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.events import detect_contacts


def _running_force(fs=200.0, n_steps=12, split=5):
    """Vertical specific force (m/s^2) of half-sine stances (0.25 s, 2.5 g peak) between 0.1-s flights;
    stance `split` has a 40-ms dip to 1.0 g in its middle, as soft-tissue wobble can make."""
    step, stance = 0.35, 0.25
    t = np.arange(int((n_steps + 1) * step * fs)) / fs
    f = np.zeros_like(t)
    ics = []
    for k in range(n_steps):
        t0 = 0.2 + k * step
        ics.append(t0)
        inside = (t >= t0) & (t < t0 + stance)
        f[inside] = 2.5 * np.sin(np.pi * (t[inside] - t0) / stance)
        if k == split:
            f[inside & (np.abs(t - (t0 + stance / 2)) < 0.02)] = 1.0
    return t, f * GRAVITY_MPS2, np.array(ics)


def test_a_stance_split_by_a_dip_above_flight_level_is_one_contact():
    t, f, ics = _running_force()
    ev = detect_contacts(t, f, 200.0)
    assert len(ev.ic_s) == len(ics)  # the split stance once, not twice
    assert np.abs(ev.ic_s - ics).max() < 0.02
    assert ev.edge_ok.all()


def _narrow_impact_force(fs, n_steps=12, width_s=0.025, bump_g=0.5):
    """Stances whose force rises in two phases: a narrow impact transient (half-sine, ``width_s`` wide,
    ``bump_g`` high) at contact, then the slower main rise (half-sine, 0.25 s, 2.5 g), between 0.1-s flights."""
    step, stance = 0.35, 0.25
    t = np.arange(int((n_steps + 1) * step * fs)) / fs
    f = np.zeros_like(t)
    ics = []
    for k in range(n_steps):
        t0 = 0.2 + k * step + 0.37 / fs * k  # contacts at every phase of the sample grid
        ics.append(t0)
        inside = (t >= t0) & (t < t0 + stance)
        f[inside] = 2.5 * np.sin(np.pi * (t[inside] - t0) / stance)
        bump = (t >= t0) & (t < t0 + width_s)
        f[bump] += bump_g * np.sin(np.pi * (t[bump] - t0) / width_s)
    return t, f * GRAVITY_MPS2, np.array(ics)


@pytest.mark.xfail(strict=True, reason="known limit: the line through 15 % and 45 % spans the shoulder a narrow "
                   "impact leaves and times contact 10-15 ms early; the tangent that fixed it tripled the "
                   "sensitivity to timing jitter and was taken out (imu/events.py docstring)")
def test_contact_on_a_narrow_impact_transient_is_not_early():
    # Issue 11: within 5 ms (median) at 100 Hz too. The line through the 15 % and 45 % levels spans the
    # transient's shoulder and lands ~14 ms early.
    for fs in (100.0, 200.0):
        t, f, ics = _narrow_impact_force(fs)
        ev = detect_contacts(t, f, fs)
        assert len(ev.ic_s) == len(ics)
        err_ms = (ev.ic_s - ics) * 1e3
        assert np.median(np.abs(err_ms)) < 5.0, (fs, err_ms)


def _pelvis_force(session):
    from stridesense.pipeline import Analyzer

    a = Analyzer()
    a.push(session.pelvis)
    a.flush()
    p = a.pelvis
    return p.time_s, p.f_world[:, 2].astype(float), p.rate_hz


def _worst_change(t, f, fs, settle_s):
    """Largest change (s) of a contact with IC more than ``settle_s`` before the signal's end, over many ends."""
    from stridesense.imu.events import detect_contacts

    whole = detect_contacts(t, f, fs)
    worst = 0.0
    for cut in np.arange(25.0, t[-1] - 1.0, 0.37):
        n = int(np.searchsorted(t, cut))
        ev = detect_contacts(t[:n], f[:n], fs)
        mine, theirs = ev.ic_s < t[n - 1] - settle_s, whole.ic_s < t[n - 1] - settle_s
        assert mine.sum() == theirs.sum()
        assert (ev.flight_after[mine] == whole.flight_after[theirs]).all()
        assert (ev.edge_ok[mine] == whole.edge_ok[theirs]).all()
        worst = max(worst, np.abs(ev.ic_s[mine] - whole.ic_s[theirs]).max(),
                    np.abs(ev.to_s[mine] - whole.to_s[theirs]).max())
    return worst


def test_contacts_are_final_once_the_signal_runs_the_settle_time_past_them(sim_short):
    from stridesense.imu.events import CONTACT_SETTLE_S

    t, f, fs = _pelvis_force(sim_short.session)
    assert _worst_change(t, f, fs, CONTACT_SETTLE_S) < 1e-12  # the live pipeline's contacts are the offline ones
    assert _worst_change(t, f, fs, 0.3) > 1e-4  # too soon: the low-pass's edge still moves contacts
