"""Contacts, bouts and sides tracked over a stream (imu.contacts), on synthetic vertical force."""

import numpy as np

from stridesense.imu.consts import GRAVITY_MPS2 as G
from stridesense.imu.contacts import SLIP_WINDOW_STEPS, ContactTracker, stance_cues
from stridesense.imu.events import detect_contacts

FS = 200.0


def _running(ics, contact_s=0.25, t_end=None, dip_at=None):
    """Vertical specific force: 0 in flight, a half-sine stance of 2.5 g peak from each IC."""
    t_end = t_end or ics[-1] + 1.0
    t = np.arange(0.0, t_end, 1 / FS)
    f = np.zeros_like(t)
    for ic in ics:
        x = (t - ic) / contact_s
        inside = (x >= 0) & (x < 1)
        f[inside] = 2.5 * G * np.sin(np.pi * x[inside])
    if dip_at is not None:  # a short dip to flight level inside a stance (real hip signals show them)
        f[(t >= dip_at) & (t < dip_at + 0.04)] = 0.0
    return t, f


def _cues(ic, to):
    return np.zeros((ic.size, 2))  # no side information: alternation alone


def test_a_stance_split_by_a_short_dip_is_one_contact():
    ics = 1.0 + 0.35 * np.arange(20)
    t, f = _running(ics, dip_at=ics[10] + 0.08)  # a 40-ms dip to flight level, 80 ms into the stance
    ev = detect_contacts(t, f, FS)
    assert ev.ic_s.size == 20
    assert np.abs(ev.ic_s - ics).max() < 0.005  # timed on the first part
    assert np.abs(ev.to_s - ics - 0.25).max() < 0.005  # toe-off on the last


def test_a_missed_step_leaves_a_gap_and_the_bout_goes_on_a_stop_ends_it():
    ics = list(1.0 + 0.35 * np.arange(30))
    del ics[15]  # the detector misses this step (as if its stance were not seen)
    ics += list(ics[-1] + 3.0 + 0.35 * np.arange(20))  # a 3-s stop, then running again
    t, f = _running(np.array(ics))
    tracker = ContactTracker()
    tracker.push(t, f, FS, np.inf, _cues, final=True)
    bout = np.array(tracker.bout)
    assert len(bout) == len(ics)
    assert (bout[:29] == bout[0]).all() and (bout[29:] == bout[0] + 1).all()


def test_pushing_in_pieces_gives_the_contacts_of_one_push():
    ics = 1.0 + 0.34 * np.arange(60)
    t, f = _running(ics)
    whole = ContactTracker()
    whole.push(t, f, FS, np.inf, _cues, final=True)
    parts = ContactTracker()
    for t_end in np.arange(2.0, t[-1], 1.3):
        i0 = int(np.searchsorted(t, parts.lookback_from(t[0])))
        i1 = int(np.searchsorted(t, t_end))
        parts.push(t[i0:i1], f[i0:i1], FS, t_end - 3.0, _cues)
    i0 = int(np.searchsorted(t, parts.lookback_from(t[0])))
    parts.push(t[i0:], f[i0:], FS, np.inf, _cues, final=True)
    assert parts.ic_s == whole.ic_s and parts.side == whole.side and parts.bout == whole.bout


def _alternating_swing(n=40, step_s=0.36):
    """Pelvis signals whose side cues swing at stride frequency, +1 at each left contact, -1 at each right one.

    Like the pelvic roll of sisfall-dev D03_SA07, the swing peaks near contact: over a whole step it averages out.
    """
    ics = 1.0 + step_s * np.arange(n)
    t = np.arange(0.0, ics[-1] + 1.0, 1 / FS)
    swing = np.cos(np.pi * (t - ics[0]) / step_s)
    ang, f_w = np.zeros((t.size, 3)), np.zeros((t.size, 3))
    f_w[:, 2] = G
    ang[:, 2] = np.radians(3.0) * swing  # pelvic roll: + in left stance
    f_w[:, 1] = -swing  # lateral force towards the pelvis' right in left stance
    return t, ang, f_w, ics


def test_side_cues_stay_within_the_stance_when_the_toe_off_found_lies_at_the_next_contact():
    # sisfall-dev D03_SA07: no flight level between steps, toe-offs found 350-370 ms after contact in 360-ms steps.
    t, ang, f_w, ics = _alternating_swing()
    cues = stance_cues(t, ang, f_w, True, ics, ics + 0.37)
    want = np.where(np.arange(ics.size) % 2 == 0, 1.0, -1.0)
    assert (np.sign(cues[:, 0]) == want).all() and (np.sign(cues[:, 1]) == want).all()


def test_an_extra_contact_that_slips_the_alternation_is_re_phased_by_the_cues():
    # A stance split in two without a long step (seen in a turn on sisfall-dev): one contact too many.
    n = 70
    ics = 1.0 + 0.36 * np.arange(n)
    true_side = np.where(np.arange(n) % 2 == 0, "L", "R")
    extra = ics[30] + 0.18
    t, f = _running(np.sort(np.r_[ics, extra]), contact_s=0.12)

    def cues(ic, to):
        k = np.abs(ic[:, None] - ics[None, :]).argmin(axis=1)
        c = np.where(true_side[k] == "L", 1.0, -1.0)
        c[np.abs(ic - extra) < 0.05] = 0.0  # the extra contact's cues say nothing
        return np.column_stack([c, c])

    tracker = ContactTracker()
    tracker.push(t, f, FS, np.inf, cues, final=True)
    got_ic = np.array(tracker.ic_s)
    assert got_ic.size == n + 1  # the extra contact is found (what the re-phasing is for)
    real = np.abs(got_ic - extra) > 0.05
    side = np.array(tracker.side)[real]
    assert (side[:31] == true_side[:31]).all()
    wrong = np.flatnonzero(side != true_side)
    assert wrong.size <= SLIP_WINDOW_STEPS and (wrong > 30).all()  # the doubt lasts at most the vote's window
    assert (side[31 + SLIP_WINDOW_STEPS:] == true_side[31 + SLIP_WINDOW_STEPS:]).all()
    assert len(tracker.parity_flips_s) == 1
    assert not np.array(tracker.agree)[real][wrong].any()  # those steps are flagged low_confidence
