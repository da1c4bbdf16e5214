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


def _narrow_impact_errors_ms(fs):
    t, f, ics = _narrow_impact_force(fs)
    ev = detect_contacts(t, f, fs)
    assert len(ev.ic_s) == len(ics)
    return (ev.ic_s - ics) * 1e3


def test_contact_on_a_narrow_impact_transient_is_read_on_its_first_flank():
    # The line through the 15 % and 45 % levels alone spans the transient's shoulder and lands ~14 ms early;
    # the first flank's read brings it within 8 ms (6.4-7.0 ms early: 1.75 ms of that is the shoulder ramp's).
    for fs in (100.0, 200.0):
        err_ms = _narrow_impact_errors_ms(fs)
        assert np.median(np.abs(err_ms)) < 8.0, (fs, err_ms)


@pytest.mark.xfail(strict=True, reason="known limit: a 25-ms transient's first flank is read 6-7 ms early (the "
                   "30-Hz low-pass spreads it; the shoulder ramp keeps 1.75 ms short of it), not within 5 ms")
def test_contact_on_a_narrow_impact_transient_is_within_5_ms():
    # Issue 11: within 5 ms (median) at 100 Hz too.
    for fs in (100.0, 200.0):
        assert np.median(np.abs(_narrow_impact_errors_ms(fs))) < 5.0, fs


def test_timing_jitter_moves_contacts_no_more_than_the_two_level_line_did():
    # A Bluetooth recording differs from its file by ~1 ms of sample timing and 1-mG values (tests/streaming/
    # test_ble.py compares them). Seed 11 has narrow impacts, 105 clean rises. The two-level line alone: IC RMS
    # change 0.31 / 0.33 ms; the steepest-pair tangent once tried: 0.47 / 0.60 ms, cadence 1.1 / 1.3 spm
    # (benchmarks/jitter.py). Against truth, seed 11's median IC error was 7.9 ms with the line alone.
    import warnings

    from accuracy_cases import jittered_copy

    from stridesense.api import analyze
    from stridesense.models.simulator import SimConfig, simulate_session

    for seed, ic_err_ms in ((11, 4.0), (105, 1.5)):
        sim = simulate_session(SimConfig(seed=seed, duration_s=60.0, pelvis_rate_hz=208.0, trunk_rate_hz=208.0,
                                         trunk_start_offset_s=0.0))
        rng = np.random.default_rng(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = analyze(pelvis=sim.session.pelvis, mass_kg=70.0).steps
            got = analyze(pelvis=jittered_copy(sim.session.pelvis, rng), mass_kg=70.0).steps
        assert len(got) == len(want)
        d_ms = (got.ic_s.to_numpy() - want.ic_s.to_numpy()) * 1e3
        assert np.sqrt(np.mean(d_ms ** 2)) < 0.4, seed
        assert np.abs(got.cadence_spm.to_numpy() - want.cadence_spm.to_numpy()).max() < 1.0, seed
        truth = sim.truth.ic_s.to_numpy()
        err_ms = np.abs(want.ic_s.to_numpy()[:, None] - truth[None, :]).min(axis=1) * 1e3
        assert np.median(err_ms) < ic_err_ms, seed


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
