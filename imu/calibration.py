"""Sensor-to-segment calibration of a clip-on sensor worn at any orientation.

* **Still periods**: windows where the accelerometer and gyroscope barely move.
* **Standing calibration** (the first still period, runner upright): the
  gyroscope bias, and gravity's direction in the sensor frame, which is the
  segment's vertical (z) axis and defines neutral (lean, obliquity, tilt = 0).
* **Forward axis** from running: in the world frame, the fore-aft direction
  is the principal axis of horizontal acceleration (braking and propulsion at
  every step), and its sign follows from the spring-mass exchange of energy:
  forward speed is lowest when the body is lowest, so fore-aft acceleration
  is in phase with vertical velocity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, sosfiltfilt

from stridesense.errors import CalibrationError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.fusion import rotate
from stridesense.imu.vectors import row_norms

STILL_WINDOW_S = 0.5
MIN_STANDING_S = 2.0
FORWARD_WINDOW_S = 4.0


@dataclass(frozen=True)
class StandingCalibration:
    """What the standing period tells.

    Attributes
    ----------
    t_start_s, t_end_s
        The still period used, session clock.
    gyr_bias_radps
        (3,) mean angular rate while still, sensor frame.
    gravity_sensor_mps2
        (3,) mean specific force while still (points up), sensor frame.
    from_standing
        False when no standing period was found and the vertical was estimated
        from the mean specific force while running instead.
    """

    t_start_s: float
    t_end_s: float
    gyr_bias_radps: np.ndarray
    gravity_sensor_mps2: np.ndarray
    from_standing: bool = True

    @property
    def up_sensor(self) -> np.ndarray:
        """Unit vector of the segment's vertical axis, sensor frame."""
        return self.gravity_sensor_mps2 / np.linalg.norm(self.gravity_sensor_mps2)


def still_mask(acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float) -> np.ndarray:
    """Samples inside a still window (accelerometer and gyroscope quiet, |acc| near g)."""
    w = max(int(STILL_WINDOW_S * sampling_rate_hz), 3)

    def moving_std(x):
        m = uniform_filter1d(x, w, axis=0, mode="nearest")
        m2 = uniform_filter1d(x * x, w, axis=0, mode="nearest")
        return np.sqrt(np.clip(m2 - m * m, 0, None)).max(axis=1)

    norm = uniform_filter1d(row_norms(acc_mps2), w, mode="nearest")
    still = (moving_std(acc_mps2) < 0.25) & (np.abs(norm - GRAVITY_MPS2) < 0.8)
    if gyr_radps is not None:
        still &= moving_std(gyr_radps) < 0.06
    return still


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def standing_calibration(
    time_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_radps: np.ndarray | None,
    sampling_rate_hz: float,
    *,
    source: str = "",
) -> StandingCalibration:
    """Calibrate from the first still period of at least 2 s.

    Raises
    ------
    CalibrationError
        No still period of 2 s before the data ends.
    """
    still = still_mask(acc_mps2, gyr_radps, sampling_rate_hz)
    need = int(MIN_STANDING_S * sampling_rate_hz)
    for i0, i1 in runs_of(still):
        if i1 - i0 >= need:
            # Trim the edges: the runner is settling or starting to move.
            edge = int(0.25 * sampling_rate_hz)
            j0, j1 = i0 + edge, max(i1 - edge, i0 + edge + 1)
            bias = np.zeros(3) if gyr_radps is None else gyr_radps[j0:j1].mean(axis=0)
            return StandingCalibration(
                float(time_s[j0]), float(time_s[j1 - 1]), bias, acc_mps2[j0:j1].mean(axis=0), True
            )
    raise CalibrationError(
        f"{source + ': ' if source else ''}no standing period of {MIN_STANDING_S:.0f} s found; "
        "start each session standing still and upright for a few seconds"
    )


def fallback_calibration(
    time_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, *, source: str = ""
) -> StandingCalibration:
    """Vertical from the mean specific force over the data (gravity, averaged over strides).

    Used when a session has no standing period: angles are then relative to
    the mean running posture, not to standing, and the gyroscope bias is
    taken as its mean (a runner's mean rotation rate is about zero).
    """
    warnings.warn(
        f"{source + ': ' if source else ''}no standing calibration found; angles are relative to the "
        "mean running posture (trunk lean and pelvic tilt will read near 0)",
        stacklevel=2,
    )
    bias = np.zeros(3) if gyr_radps is None else gyr_radps.mean(axis=0)
    return StandingCalibration(float(time_s[0]), float(time_s[-1]), bias, acc_mps2.mean(axis=0), False)


def forward_axis(
    quat: np.ndarray,
    acc_mps2: np.ndarray,
    up_sensor: np.ndarray,
    sampling_rate_hz: float,
) -> tuple[np.ndarray, float]:
    """The segment's forward axis in the sensor frame, from running data.

    Parameters
    ----------
    quat
        (n, 4) sensor-to-world quaternions over running data.
    acc_mps2
        (n, 3) specific force, sensor frame.
    up_sensor
        The segment's vertical axis in the sensor frame (from standing).
    sampling_rate_hz
        Sample rate, Hz.

    Returns
    -------
    forward
        Unit vector, sensor frame, perpendicular to ``up_sensor``.
    confidence
        Fraction of windows whose sign agreed with the result (0.5 = coin toss).

    Raises
    ------
    CalibrationError
        Too little running to tell forward from sideways.
    """
    fs = sampling_rate_hz
    if acc_mps2.shape[0] < FORWARD_WINDOW_S * fs:
        raise CalibrationError(
            f"only {acc_mps2.shape[0] / fs:.1f} s of data after standing; running is needed to find the sensor's "
            "forward direction"
        )
    f_w = rotate(quat, acc_mps2)
    sos = butter(2, [0.7, 12.0], btype="band", fs=fs, output="sos")
    a_w = sosfiltfilt(sos, f_w, axis=0)
    v_z = sosfiltfilt(butter(2, 0.7, btype="high", fs=fs, output="sos"), np.cumsum(a_w[:, 2]) / fs)
    w = int(FORWARD_WINDOW_S * fs)
    total = np.zeros(3)
    signs = []
    for i0 in range(0, a_w.shape[0] - w + 1, w // 2):
        h = a_w[i0:i0 + w, :2]
        evals, evecs = np.linalg.eigh(h.T @ h)
        if evals[1] < 2.0 * evals[0]:
            continue  # no clear fore-aft axis (turning on the spot, walking slowly)
        e = evecs[:, 1]
        s = np.sign(np.dot(h @ e, v_z[i0:i0 + w])) or 1.0
        signs.append(s)
        h_w = np.tile(np.array([e[0] * s, e[1] * s, 0.0]), (w, 1))
        total += rotate(quat[i0:i0 + w], h_w, inverse=True).sum(axis=0)
    if not signs:
        raise CalibrationError("not enough steady running to find the sensor's forward direction")
    x = total - np.dot(total, up_sensor) * up_sensor
    if np.linalg.norm(x) < 1e-9:
        raise CalibrationError("the forward direction could not be separated from the vertical")
    agree = float(np.mean(np.array(signs) == np.sign(np.sum(signs) or 1)))
    return x / np.linalg.norm(x), agree


def segment_alignment(up_sensor: np.ndarray, forward_sensor: np.ndarray) -> np.ndarray:
    """3x3 matrix whose columns are the segment's x (forward), y (left), z (up) in sensor coordinates."""
    z = up_sensor / np.linalg.norm(up_sensor)
    x = forward_sensor - np.dot(forward_sensor, z) * z
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])
