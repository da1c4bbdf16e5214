import numpy as np

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
