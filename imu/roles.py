"""Which sensor is on the pelvis and which on the trunk, from their signals.

In running the pelvis tilts much more than the trunk above it: its
frontal-plane drop and sagittal tilt swing through 5-15 degrees each stride,
while the trunk is held steady to carry the head (the trunk's side bend is a
few degrees).  The angular rate about horizontal axes (the sensor's rate
with its component about the vertical removed) is therefore larger at the
pelvis, whatever way either sensor is clipped on.  The score is the log ratio
of the two sensors' horizontal angular-rate RMS over running: positive as
labelled, negative when the files look swapped.

Measured on the project's simulator (tuned on seeds 200-215, reported on
300-339) and on the outside simulator's four sessions: see
tests/imu/test_roles.py and docs/inputs.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from stridesense.imu.data import SensorData
from stridesense.imu.vectors import row_norms

ROLE_RATE_HZ = 100.0
RUNNING_STD_MPS2 = 2.0  # 2-s windows whose |acc| varies this much are running
MIN_RUNNING_S = 10.0
SWAP_SCORE = -0.25  # at or below: the files are swapped (the smallest score as labelled was +0.26 on seeds 200-215)
UNCLEAR_SCORE = 0.0  # between SWAP_SCORE and this: cannot tell
MAX_SPAN_S = 600.0  # the first 10 minutes decide (bounds the work)


@dataclass(frozen=True)
class RoleCheck:
    """The verdict on the sensors' roles.

    Attributes
    ----------
    score
        log(pelvis / trunk horizontal angular-rate RMS over running); NaN when not checked.
    verdict
        ``"as labelled"``, ``"swapped"``, ``"unclear"`` or ``"not checked"``.
    reason
        Why not checked, when it was not.
    """

    score: float
    verdict: str
    reason: str = ""


def tilt_rate_rms(data: SensorData) -> tuple[float, float]:
    """(RMS of the angular rate about horizontal axes over running, rad/s; seconds of running used)."""
    t = data.time_s
    t_end = min(t[-1], t[0] + MAX_SPAN_S)
    grid = np.arange(t[0], t_end, 1.0 / ROLE_RATE_HZ)
    acc = np.column_stack([np.interp(grid, t, data.acc_mps2[:, i]) for i in range(3)])
    gyr = np.column_stack([np.interp(grid, t, data.gyr_radps[:, i]) for i in range(3)])
    k = int(2 * ROLE_RATE_HZ)
    n_win = grid.size // k
    if n_win == 0:
        return float("nan"), 0.0
    running = row_norms(acc[: n_win * k]).reshape(n_win, k).std(axis=1) > RUNNING_STD_MPS2
    keep = np.repeat(running, k)
    # The vertical in sensor coordinates: gravity dominates |acc| averaged over 2 s.
    sos = signal.butter(2, 0.5, "low", fs=ROLE_RATE_HZ, output="sos")
    up = signal.sosfiltfilt(sos, acc, axis=0)[: n_win * k][keep]
    up /= np.maximum(row_norms(up), 1e-9)[:, None]
    w = gyr[: n_win * k][keep]
    tilt = w - (w * up).sum(axis=1)[:, None] * up
    if not len(tilt):
        return float("nan"), 0.0
    return float(np.sqrt(np.mean(row_norms(tilt) ** 2))), float(running.sum() * k / ROLE_RATE_HZ)


def check_roles(pelvis: SensorData, trunk: SensorData) -> RoleCheck:
    """Tell whether the sensors labelled pelvis and trunk are where their labels say."""
    if not (pelvis.has_gyro and trunk.has_gyro):
        return RoleCheck(float("nan"), "not checked", "needs a gyroscope in both sensors")
    (rp, sp), (rt, st) = tilt_rate_rms(pelvis), tilt_rate_rms(trunk)
    if min(sp, st) < MIN_RUNNING_S or not (rp > 0 and rt > 0):
        return RoleCheck(float("nan"), "not checked", f"needs {MIN_RUNNING_S:.0f} s of running in both sensors")
    score = float(np.log(rp / rt))
    if score <= SWAP_SCORE:
        return RoleCheck(score, "swapped")
    if score < UNCLEAR_SCORE:
        return RoleCheck(score, "unclear")
    return RoleCheck(score, "as labelled")


def relabel(data: SensorData, role: str) -> SensorData:
    """The same samples under another role."""
    return SensorData(data.time_s, data.acc_mps2, data.gyr_radps, role, data.source, data.meta)
