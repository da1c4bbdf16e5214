"""Contacts, bouts and sides tracked over a stream (imu.contacts), on synthetic vertical force."""

import numpy as np

from stridesense.imu.consts import GRAVITY_MPS2 as G
from stridesense.imu.contacts import ContactTracker
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
