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
from stridesense.imu.activity import FLIGHT_G, FLIGHT_SHARE, STANCE_PEAK_G
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.fusion import rotate
from stridesense.imu.vectors import row_norms

STILL_WINDOW_S = 0.5
MIN_STANDING_S = 2.0
FORWARD_WINDOW_S = 4.0
BIAS_RUNNING_S = 60.0  # running used to find the gyroscope's bias without standing
SEARCH_BLOCK_S, SEARCH_OVERLAP_S = 300.0, 60.0  # standing is looked for block by block
MIN_FORWARD_WINDOWS = 2  # half-overlapping windows of running: 6 s
MAX_STANDING_TILT_DEG = 30.0  # a still period this far from the running vertical is not standing
# Mean obliquity (side lean) while running relative to a standing period: a runner's asymmetric drop
# moves it by a degree or two (9/4 degrees of drop on the external simulator: 2.3); more means the still period was not level
# standing (weight on one leg, a hip hitched, a belt that shifted) and would bias every drop by as much.
MAX_STANDING_OBLIQUITY_DEG = 4.0


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
    up_running: np.ndarray | None = None,
) -> StandingCalibration:
    """Calibrate from the first still period of at least 2 s, wherever it is.

    Parameters
    ----------
    up_running
        The mean vertical while running, sensor frame, if known: a still period
        whose gravity is more than MAX_STANDING_TILT_DEG away from it is not the
        runner standing with the sensor on (a sensor lying on a table, a runner
        sitting) and is passed over.

    Raises
    ------
    CalibrationError
        No such still period in the data.
    """
    # The search needs no more than 50 Hz: decimate (plain striding), and look block by block (standing
    # is usually near the start; an hour is not scanned for it unless it has none).
    step = max(int(sampling_rate_hz // 50), 1)
    fs = sampling_rate_hz / step
    need = int(MIN_STANDING_S * fs)
    edge = int(0.25 * sampling_rate_hz)  # trim the edges: the runner is settling or starting to move
    block, overlap = int(SEARCH_BLOCK_S * fs), int(SEARCH_OVERLAP_S * fs)
    acc_d = acc_mps2[::step]
    gyr_d = None if gyr_radps is None else gyr_radps[::step]
    n = acc_d.shape[0]
    for b0 in range(0, max(n, 1), block):
        lo, hi = max(b0 - overlap, 0), min(b0 + block, n)
        still = still_mask(acc_d[lo:hi], None if gyr_d is None else gyr_d[lo:hi], fs)
        for r0, r1 in runs_of(still):
            if r1 - r0 < need or (r1 == hi - lo and hi < n):
                continue  # too short, or it may go on into the next block (which looks again)
            i0, i1 = (lo + r0) * step, min((lo + r1) * step, acc_mps2.shape[0])
            j0, j1 = i0 + edge, max(i1 - edge, i0 + edge + 1)
            gravity = acc_mps2[j0:j1].mean(axis=0)
            if up_running is not None and _angle_deg(gravity, up_running) > MAX_STANDING_TILT_DEG:
                continue
            bias = np.zeros(3) if gyr_radps is None else gyr_radps[j0:j1].mean(axis=0)
            return StandingCalibration(float(time_s[j0]), float(time_s[j1 - 1]), bias, gravity, True)
    raise CalibrationError(
        f"{source + ': ' if source else ''}no standing period of {MIN_STANDING_S:.0f} s found; "
        "start each session standing still and upright for a few seconds"
    )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def running_vertical(acc_mps2: np.ndarray, sampling_rate_hz: float, max_windows: int = 60) -> np.ndarray | None:
    """Mean specific force over the first running windows (gravity, averaged over strides), sensor frame.

    None without running.  ``max_windows`` half-overlapping 4-s windows (2 minutes) are plenty.
    """
    w = int(FORWARD_WINDOW_S * sampling_rate_hz)
    starts = running_windows(acc_mps2, sampling_rate_hz)[:max_windows]
    if starts.size == 0:
        return None
    cs = np.vstack([np.zeros((1, 3)), np.cumsum(acc_mps2[:starts[-1] + w], axis=0)])
    return ((cs[starts + w] - cs[starts]) / w).mean(axis=0)


def refine_gyro_bias(
    gyr_radps: np.ndarray, acc_mps2: np.ndarray, bias_radps: np.ndarray, gravity_sensor: np.ndarray,
    sampling_rate_hz: float, *, block_s: float = 2.0, iterations: int = 2,
) -> np.ndarray:
    """Horizontal gyroscope bias from running itself: gravity must stay put in the gyroscope's frame.

    Integrating the rates (minus the bias so far) gives a quasi-inertial
    frame; a bias left over turns it, so the stride-averaged specific force
    (gravity) turns in it: dg/dt = g x w.  The least-squares w over 2-s
    blocks, brought back to the sensor frame, is taken off the bias.  The
    component about gravity is not observable and stays as given.
    """
    from stridesense.imu.fusion import quat_from_gravity, strapdown

    fs = sampling_rate_hz
    n = int(block_s * fs)
    m = acc_mps2.shape[0] // n
    if m < 4:
        return bias_radps
    bias = np.asarray(bias_radps, float).copy()
    up = gravity_sensor / np.linalg.norm(gravity_sensor)
    q0 = quat_from_gravity(gravity_sensor)
    for _ in range(iterations):
        q_in = strapdown(q0, np.ascontiguousarray(gyr_radps[:m * n] - bias), 1.0 / fs)
        f_in = rotate(q_in, acc_mps2[:m * n])
        g = f_in.reshape(m, n, 3).mean(axis=1)
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        dg = np.gradient(g, block_s, axis=0)
        # g x w = dg, linear in w: rows of the cross-product matrix of g.
        skew = np.zeros((m, 3, 3))
        skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -g[:, 2], g[:, 1], -g[:, 0]
        skew[:, 1, 0], skew[:, 2, 0], skew[:, 2, 1] = g[:, 2], -g[:, 1], g[:, 0]
        w_world, *_ = np.linalg.lstsq(skew.reshape(-1, 3), dg.reshape(-1), rcond=None)
        w_sensor = rotate(q_in[::n], np.tile(w_world, (m, 1)), inverse=True).mean(axis=0)
        w_sensor -= np.dot(w_sensor, up) * up
        bias = bias - w_sensor
    return bias


def fallback_calibration(
    time_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_radps: np.ndarray | None,
    *,
    source: str = "",
    sampling_rate_hz: float | None = None,
) -> StandingCalibration:
    """Vertical from the mean specific force while running (gravity, averaged over strides).

    Used when a session has no standing period: angles are then relative to
    the mean running posture, not to standing.  The gyroscope bias is taken
    about the horizontal axes from running itself (:func:`refine_gyro_bias`:
    a runner's mean angular rate is not 0, oscillations about three axes at
    once give a few 0.01 rad/s, "coning", so the mean rate is only its
    start), and as the median of 1-s mean rates about the vertical (turns
    are outliers; not observable from gravity).
    """
    warnings.warn(
        f"{source + ': ' if source else ''}no standing calibration found; angles are relative to the "
        "mean running posture (trunk lean and pelvic tilt will read near 0)",
        stacklevel=2,
    )
    fs = sampling_rate_hz or 1.0 / float(np.median(np.diff(time_s[:1000])))
    gravity = running_vertical(acc_mps2, fs)
    if gravity is None:
        gravity = acc_mps2.mean(axis=0)
    bias = np.zeros(3)
    if gyr_radps is not None:
        up = gravity / np.linalg.norm(gravity)
        mean = gyr_radps.mean(axis=0)
        # Median of 1-s means about the vertical: turns are outliers.
        n1 = int(fs)
        about_up = gyr_radps[:gyr_radps.shape[0] // n1 * n1] @ up
        vertical = float(np.median(about_up.reshape(-1, n1).mean(axis=1))) if about_up.size else float(mean @ up)
        bias = mean - np.dot(mean, up) * up + vertical * up
        starts = running_windows(acc_mps2, fs)
        if starts.size:  # the horizontal part from a minute of running (the mean holds the runner's coning)
            i0 = int(starts[0])
            i1 = min(i0 + int(BIAS_RUNNING_S * fs), acc_mps2.shape[0])
            bias = refine_gyro_bias(gyr_radps[i0:i1], acc_mps2[i0:i1], bias, gravity, fs)
    return StandingCalibration(float(time_s[0]), float(time_s[-1]), bias, gravity, False)


def running_windows(acc_mps2: np.ndarray, sampling_rate_hz: float, window_s: float = FORWARD_WINDOW_S) -> np.ndarray:
    """Start indices of half-overlapping windows that hold running (a flight phase every step).

    Orientation-free, the definition of imu.activity: |f| falls below 0.45 g in
    at least 5 % of the window and peaks above 1.5 g.
    """
    fs = sampling_rate_hz
    w = int(window_s * fs)
    norm = row_norms(acc_mps2) / GRAVITY_MPS2
    starts = np.arange(0, norm.size - w + 1, max(w // 2, 1))
    if w % 2:
        w -= 1  # whole hops (the window is 4 s to within a sample)
    if starts.size == 0:
        return starts
    low = np.concatenate([[0], np.cumsum(norm < FLIGHT_G)])
    flight = (low[starts + w] - low[starts]) / w
    hop = max(w // 2, 1)
    # Each window is two hops: the peak of a window is the larger of its two hops' peaks.
    hops = np.maximum.reduceat(norm[:starts[-1] + w], np.arange(0, starts[-1] + w, hop))
    peak = np.maximum(hops[starts // hop], hops[np.minimum(starts // hop + 1, hops.size - 1)])
    return starts[(flight >= FLIGHT_SHARE) & (peak > STANCE_PEAK_G)]


def step_period_samples(x: np.ndarray, sampling_rate_hz: float) -> tuple[int, float]:
    """Step period of a running signal (lag of its autocorrelation peak in 0.22-0.6 s), samples, and that peak."""
    x = x - x.mean()
    den = float(np.dot(x, x))
    lo, hi = int(0.22 * sampling_rate_hz), min(int(0.6 * sampling_rate_hz), x.size - 2)
    if den <= 0 or hi <= lo:
        return 0, 0.0
    c = np.correlate(x, x, "full")[x.size - 1 + lo:x.size + hi] / den
    k = int(np.argmax(c))
    return lo + k, float(c[k])


def forward_axis(
    quat: np.ndarray,
    acc_mps2: np.ndarray,
    up_sensor: np.ndarray,
    sampling_rate_hz: float,
) -> tuple[np.ndarray, float]:
    """The segment's forward axis in the sensor frame, from running data.

    Fore-aft acceleration (braking, then propulsion) repeats every step;
    medio-lateral acceleration (a push towards the midline, left then right)
    repeats every stride and changes sign from one step to the next.  So in
    each window the symmetrised covariance of horizontal acceleration with
    itself one step later has the fore-aft axis as its top (positive)
    eigenvector and the medio-lateral one negative: the axis is found even
    when sway makes both variances alike.  The sign follows from the
    spring-mass exchange of energy (forward speed is lowest when the body is
    lowest: fore-aft acceleration in phase with vertical velocity).

    Parameters
    ----------
    quat
        (n, 4) sensor-to-world quaternions over the data (running windows are picked here).
    acc_mps2
        (n, 3) specific force, sensor frame.
    up_sensor
        The segment's vertical axis in the sensor frame.
    sampling_rate_hz
        Sample rate, Hz.

    Returns
    -------
    forward
        Unit vector, sensor frame, perpendicular to ``up_sensor``.
    confidence
        Agreement of the windows, 0-1: length of the mean of their unit forward
        vectors (1 = all windows agree, 0 = no agreement).

    Raises
    ------
    CalibrationError
        No running in the data (no window with a flight phase every step).
    """
    fs = sampling_rate_hz
    if acc_mps2.shape[0] < FORWARD_WINDOW_S * fs:
        raise CalibrationError(
            f"only {acc_mps2.shape[0] / fs:.1f} s of data; running is needed to find the sensor's forward direction"
        )
    starts = running_windows(acc_mps2, fs)
    if starts.size == 0:
        raise CalibrationError("no running (no flight phase between steps) to find the sensor's forward direction")
    f_w = rotate(quat, acc_mps2)
    sos = butter(2, [0.7, min(12.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    a_w = sosfiltfilt(sos, f_w, axis=0)
    v_z = sosfiltfilt(butter(2, 0.7, btype="high", fs=fs, output="sos"), np.cumsum(a_w[:, 2]) / fs)
    w = int(FORWARD_WINDOW_S * fs)
    vectors, weights = [], []
    for i0 in starts:
        lag, peak = step_period_samples(a_w[i0:i0 + w, 2], fs)
        if lag == 0 or peak < 0.2:
            continue  # not periodic enough to tell a step
        h = a_w[i0:i0 + w, :2]
        # Each sample plus the same moment one step later: the stride-periodic part (sideways) cancels.
        step_sum = h[:-lag] + h[lag:]
        evals, evecs = np.linalg.eigh(step_sum.T @ step_sum)
        e = evecs[:, 1]
        s = np.sign(np.dot(h @ e, v_z[i0:i0 + w])) or 1.0
        h_w = np.tile(np.array([e[0] * s, e[1] * s, 0.0]), (w, 1))
        x = rotate(quat[i0:i0 + w], h_w, inverse=True).sum(axis=0)
        x -= np.dot(x, up_sensor) * up_sensor
        if np.linalg.norm(x) < 1e-9:
            continue
        vectors.append(x / np.linalg.norm(x))
        # Windows whose step-to-step structure stands out count more.
        weights.append(1.0 - evals[0] / evals[1] if evals[1] > 0 else 0.0)
    if len(vectors) < MIN_FORWARD_WINDOWS:
        raise CalibrationError(f"{len(vectors) * FORWARD_WINDOW_S / 2:.0f} s of running with a regular step: too "
                               "little to find the sensor's forward direction")
    vectors, weights = np.array(vectors), np.array(weights)
    total = (vectors * weights[:, None]).sum(axis=0)
    if np.linalg.norm(total) < 1e-9:
        raise CalibrationError("the forward direction could not be separated from the vertical")
    x = total / np.linalg.norm(total)
    confidence = float(np.linalg.norm(vectors.mean(axis=0)))
    return x, confidence


def segment_alignment(up_sensor: np.ndarray, forward_sensor: np.ndarray) -> np.ndarray:
    """3x3 matrix whose columns are the segment's x (forward), y (left), z (up) in sensor coordinates."""
    z = up_sensor / np.linalg.norm(up_sensor)
    x = forward_sensor - np.dot(forward_sensor, z) * z
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])


def level_obliquity(alignment: np.ndarray, obliquity_deg: float) -> np.ndarray:
    """The alignment turned about its forward axis so that ``obliquity_deg`` reads 0 (pitch kept)."""
    r = np.radians(obliquity_deg)
    x, y, z = alignment.T
    return np.column_stack([x, np.cos(r) * y - np.sin(r) * z, np.cos(r) * z + np.sin(r) * y])
