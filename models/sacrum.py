"""A sensor at the sacrum is not the centre of mass: its own motion, for the simulator.

The analysis reads ground reaction force from the pelvis sensor; a real one
moves relative to the centre of mass (on a force treadmill its vertical
peaks run 1.2-2.5 times the force's, and it trails the force for 30-60 ms
after toe-off; benchmarks/forceplate.py).  Two physical parts, both off
unless the simulator's configuration asks for them:

* soft tissue and clothing: the sensor is a small mass on a damped spring
  riding on the body, so it feels the centre of mass' acceleration through
  the base-excitation transmissibility
  ``H(s) = (2 zeta w s + w^2) / (s^2 + 2 zeta w s + w^2)`` (w = 2 pi f_n).
  H(0) = 1, so it applies to specific force as well.  It overshoots at the
  impact, rings, and lags at toe-off.  Natural frequencies of soft tissue in
  running are 10-20 Hz, damping well below critical (Wakeling & Nigg 2001,
  J Appl Physiol 90:412);
* pelvic rotation: the sensor sits at a lever arm ``r`` from the pelvis'
  centre of rotation and feels ``alpha x r + omega x (omega x r)`` on top.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import bilinear, lfilter, lfilter_zi

FINE_RATE_HZ = 1000.0  # the tissue model runs here, whatever the sensor's rate


def tissue_response(f_mps2: np.ndarray, sampling_rate_hz: float, natural_hz: float, damping: float) -> np.ndarray:
    """What a sensor on soft tissue feels of a body's specific force (causal, along axis 0).

    Parameters
    ----------
    f_mps2
        (n,) or (n, k) the body's specific force, uniformly sampled, m/s^2.
    sampling_rate_hz
        Sample rate, Hz (well above ``natural_hz``).
    natural_hz, damping
        The tissue's natural frequency (Hz) and damping ratio.
    """
    w = 2 * np.pi * natural_hz
    b, a = bilinear([2 * damping * w, w * w], [1.0, 2 * damping * w, w * w], fs=sampling_rate_hz)
    x = np.asarray(f_mps2, float)
    zi = lfilter_zi(b, a)
    zi = zi[:, None] * x[0][None, ...] if x.ndim > 1 else zi * x[0]
    y, _ = lfilter(b, a, x, axis=0, zi=zi)
    return y


def tissue_offset_heading(runner, t: np.ndarray, natural_hz: float, damping: float) -> np.ndarray:
    """(n, 3) the sensor's specific force minus the centre of mass', heading frame, at times ``t``, m/s^2."""
    t = np.asarray(t, float)
    fine = np.arange(t[0] - 1.0, t[-1] + 1.0 / FINE_RATE_HZ, 1.0 / FINE_RATE_HZ)
    f_com, _ = runner.specific_force_heading(fine)
    diff = tissue_response(f_com, FINE_RATE_HZ, natural_hz, damping) - f_com
    return np.column_stack([np.interp(t, fine, diff[:, j]) for j in range(3)])


def lever_arm_world(rotation_at, t: np.ndarray, lever_m: np.ndarray, h: float = 2e-3) -> np.ndarray:
    """(n, 3) acceleration of a point at ``lever_m`` (segment frame) relative to the segment's origin, world, m/s^2.

    ``rotation_at(t)`` gives the segment-to-world rotations; angular velocity
    and acceleration come from central differences over ``h``.
    """
    t = np.asarray(t, float)

    def omega(tt):
        return (rotation_at(tt + h) * rotation_at(tt - h).inv()).as_rotvec() / (2 * h)  # world frame

    w = omega(t)
    alpha = (omega(t + h) - omega(t - h)) / (2 * h)
    r = rotation_at(t).apply(np.asarray(lever_m, float))
    return np.cross(alpha, r) + np.cross(w, np.cross(w, r))
