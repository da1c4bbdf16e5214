"""Orientation of one sensor under running impacts.

Generic filters at their default gains are several degrees off during running
(shared/MEASURED.md): each stance reads 2-3 g, each flight about 0 g, so the
accelerometer is a poor gravity reference sample by sample.  Running is
periodic, though, and over a whole stride the mean specific force *is*
gravity.  So the filter here works in two steps:

1. **Gravity reference.**  The gyroscope alone (bias removed) is integrated
   into a quasi-inertial frame; the specific force is rotated into that frame
   and low-pass filtered (4th-order Butterworth, 0.3 Hz: -75 dB at a 2.8 Hz
   step frequency), then rotated back into the sensor frame.  The result is
   gravity's direction in the sensor frame at every sample, with the impacts
   averaged out but the segment's fast rotation kept (it comes from the
   gyroscope).  The same idea is behind VQF (Laidig & Seel 2023).
2. **Madgwick** (``ahrs.filters.Madgwick.updateIMU``, the IMU form) fuses the
   gyroscope with that reference.  A compiled loop (numba) runs the same
   update; ``tests/imu/test_fusion.py`` checks it against ``ahrs`` to 1e-10.

Both steps are causal and keep their state, so a session pushed in chunks
gives the same quaternions as one pushed whole.

Quaternions are scalar-first ``[w, x, y, z]`` (ahrs' convention) and rotate
sensor-frame vectors into the world frame (z up, yaw arbitrary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, sosfilt, sosfilt_zi

from stridesense.imu.vectors import row_norms

DEFAULT_GAIN = 0.05  # rad/s: the reference is clean, so the gain only has to outrun gyro drift
GRAVITY_CUTOFF_HZ = 0.3
GRAVITY_ORDER = 4
# While the heading turns faster than this, the mean specific force holds a
# centripetal part (v * yaw rate: 0.6 m/s^2, 3.5 degrees, at 4 m/s on a 25 m
# radius) and the body really leans into the turn, so the gravity reference
# is held and the gyroscope alone carries the orientation through the turn.
# Limitation: an accelerometer bias is absorbed by the standing calibration
# while it turns with the sensor; a held reference does not turn, so a turn of
# angle A leaves up to 2 sin(A/2) times the bias' tilt (about 1-2 degrees for
# a 180-degree turn with a 10-25 mg bias).  Steps while the reference is held
# are flagged `turning`.
TURN_HOLD_RADPS = 0.04
# The reference runs this far behind the newest sample, so that a turn, which
# the low-passed yaw rate reveals late, is left out from its very start.  In
# the quasi-inertial frame gravity is constant, so the delay costs nothing.
TURN_LOOKAHEAD_S = 3.0


@numba.njit(cache=True, nogil=True, inline="always")
def _qmul(aw, ax, ay, az, bw, bx, by, bz):
    # Scalars in and out: a small array per sample costs more than the arithmetic.
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


@numba.njit(cache=True, nogil=True)
def madgwick_imu(q0, gyr_radps, acc, dt, gain):
    """Madgwick IMU update over a whole array, the same arithmetic as ``ahrs``.

    Parameters
    ----------
    q0
        (4,) start quaternion, sensor to world.
    gyr_radps, acc
        (n, 3) angular rate (rad/s) and gravity reference (any unit), sensor frame.
    dt
        Sample interval, s.
    gain
        Madgwick's beta, rad/s.

    Returns
    -------
    (n, 4) quaternions after each sample.
    """
    n = gyr_radps.shape[0]
    out = np.empty((n, 4))
    qw, qx, qy, qz = q0[0], q0[1], q0[2], q0[3]
    for i in range(n):
        # ahrs normalises the a-priori quaternion on every call (Quaternion(q));
        # doing the same here also makes a chunk's start identical to a whole run.
        nq = np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw / nq, qx / nq, qy / nq, qz / nq
        gx, gy, gz = gyr_radps[i, 0], gyr_radps[i, 1], gyr_radps[i, 2]
        if gx == 0.0 and gy == 0.0 and gz == 0.0:
            out[i, 0], out[i, 1], out[i, 2], out[i, 3] = qw, qx, qy, qz
            continue
        dw, dx, dy, dz = _qmul(qw, qx, qy, qz, 0.0, gx, gy, gz)
        dw, dx, dy, dz = 0.5 * dw, 0.5 * dx, 0.5 * dy, 0.5 * dz
        a0, a1, a2 = acc[i, 0], acc[i, 1], acc[i, 2]
        a_norm = np.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        if a_norm > 0:
            ax, ay, az = a0 / a_norm, a1 / a_norm, a2 / a_norm
            nq = np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            nw, nx, ny, nz = qw / nq, qx / nq, qy / nq, qz / nq
            f0 = 2.0 * (nx * nz - nw * ny) - ax  # (eq. 25)
            f1 = 2.0 * (nw * nx + ny * nz) - ay
            f2 = 2.0 * (0.5 - nx * nx - ny * ny) - az
            if f0 != 0.0 or f1 != 0.0 or f2 != 0.0:
                # J.T @ f (eqs. 26, 34)
                g0 = -2.0 * ny * f0 + 2.0 * nx * f1
                g1 = 2.0 * nz * f0 + 2.0 * nw * f1 - 4.0 * nx * f2
                g2 = -2.0 * nw * f0 + 2.0 * nz * f1 - 4.0 * ny * f2
                g3 = 2.0 * nx * f0 + 2.0 * ny * f1
                gn = np.sqrt(g0 * g0 + g1 * g1 + g2 * g2 + g3 * g3)
                if gn > 0:
                    dw -= gain * g0 / gn  # (eq. 33)
                    dx -= gain * g1 / gn
                    dy -= gain * g2 / gn
                    dz -= gain * g3 / gn
        qw, qx, qy, qz = qw + dw * dt, qx + dx * dt, qy + dy * dt, qz + dz * dt  # (eq. 13)
        nq = np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw / nq, qx / nq, qy / nq, qz / nq
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = qw, qx, qy, qz
    return out


def madgwick_imu_ahrs(q0, gyr_radps, acc, dt, gain):
    """The reference: ``ahrs``' Madgwick ``updateIMU`` called sample by sample."""
    from ahrs.filters import Madgwick

    filt = Madgwick(Dt=dt, gain=gain)
    out = np.empty((gyr_radps.shape[0], 4))
    q = np.asarray(q0, dtype=float)
    for i in range(gyr_radps.shape[0]):
        q = filt.updateIMU(q, gyr=gyr_radps[i], acc=acc[i])
        out[i] = q
    return out


@numba.njit(cache=True, nogil=True)
def strapdown(q0, gyr_radps, dt):
    """Integrate the angular rate alone (exact rotation per sample).

    Returns (n, 4) quaternions, sensor to the quasi-inertial frame of ``q0``.
    """
    n = gyr_radps.shape[0]
    out = np.empty((n, 4))
    qw, qx, qy, qz = q0[0], q0[1], q0[2], q0[3]
    for i in range(n):
        wx, wy, wz = gyr_radps[i, 0] * dt, gyr_radps[i, 1] * dt, gyr_radps[i, 2] * dt
        ang = np.sqrt(wx * wx + wy * wy + wz * wz)
        if ang > 0:
            s = np.sin(ang / 2) / ang
            qw, qx, qy, qz = _qmul(qw, qx, qy, qz, np.cos(ang / 2), wx * s, wy * s, wz * s)
            nq = np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw, qx, qy, qz = qw / nq, qx / nq, qy / nq, qz / nq
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = qw, qx, qy, qz
    return out


@numba.njit(cache=True, nogil=True)
def _rotate(q, v, sign):
    # A single row of q or v applies to every row of the other (no broadcast copy).
    n = max(q.shape[0], v.shape[0])
    out = np.empty((n, 3))
    for i in range(n):
        iq = i if q.shape[0] > 1 else 0
        iv = i if v.shape[0] > 1 else 0
        w, x, y, z = q[iq, 0], sign * q[iq, 1], sign * q[iq, 2], sign * q[iq, 3]
        vx, vy, vz = v[iv, 0], v[iv, 1], v[iv, 2]
        tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
        out[i, 0] = vx + w * tx + (y * tz - z * ty)
        out[i, 1] = vy + w * ty + (z * tx - x * tz)
        out[i, 2] = vz + w * tz + (x * ty - y * tx)
    return out


def rotate(q: np.ndarray, v: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Rotate vectors ``v`` (n, 3) by quaternions ``q`` (n, 4) (or their inverse).

    Either may be a single row, which then applies to every row of the other.
    ``v' = v + w t + u x t`` with ``t = 2 u x v`` (q = [w, u]), compiled: the
    pipeline rotates every sample several times.  float32 or float64 vectors;
    the result is float64.
    """
    q = np.atleast_2d(np.asarray(q, dtype=float))
    v = np.atleast_2d(np.asarray(v))
    if v.dtype not in (np.float32, np.float64):
        v = v.astype(float)
    if q.shape[0] != v.shape[0] and 1 not in (q.shape[0], v.shape[0]):
        raise ValueError(f"rotate: {q.shape[0]} quaternions and {v.shape[0]} vectors")
    return _rotate(np.ascontiguousarray(q), np.ascontiguousarray(v), -1.0 if inverse else 1.0)


def half_sample_earlier(quat: np.ndarray, q_before: np.ndarray | None = None) -> np.ndarray:
    """Orientations half a sample earlier than ``quat`` (n, 4): the normalised mean with the sample before.

    Madgwick (ahrs) and `strapdown` turn the orientation by the rate of sample i over the interval that
    ends at sample i, so q_i is the orientation of about half a sample *after* t_i.  Rotating the specific
    force of sample i by it leans the stride's force along the segment's rotation at that moment: the trunk
    pitches forward under the impact, and at 104 Hz the stride-mean forward force read 0.08 deg too far
    back (outside simulator: trunk lean bias +0.40/+0.19/+0.29/+0.28 -> +0.32/+0.16/+0.20/+0.20 deg).
    ``q_before``: the last quaternion of the previous chunk (None: the first is kept), so chunks give the
    same result as one push.
    """
    quat = np.asarray(quat, float)
    if quat.shape[0] == 0:
        return quat
    first = quat[:1] if q_before is None else np.asarray(q_before, float).reshape(1, 4)
    prev = np.vstack([first, quat[:-1]])
    prev = np.where((np.einsum("ij,ij->i", prev, quat) < 0)[:, None], -prev, prev)  # q and -q: one rotation
    mid = prev + quat
    return mid / np.linalg.norm(mid, axis=1, keepdims=True)


def quat_from_gravity(gravity_sensor: np.ndarray) -> np.ndarray:
    """Smallest rotation that takes the measured gravity direction to world z."""
    g = np.asarray(gravity_sensor, float) / np.linalg.norm(gravity_sensor)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(g, z)
    s = np.linalg.norm(axis)
    c = float(np.dot(g, z))
    if s < 1e-12:
        return np.array([1.0, 0, 0, 0]) if c > 0 else np.array([0.0, 1.0, 0, 0])
    angle = np.arctan2(s, c)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis / s])


@dataclass
class FusionResult:
    """Orientation of one sensor, sample by sample.

    Attributes
    ----------
    quat
        (n, 4) sensor-to-world quaternions ``[w, x, y, z]``.
    gravity_ref_sensor
        (n, 3) the gravity reference fed to the filter, sensor frame, m/s^2.
    acc_error_deg
        (n,) angle between the raw specific force and the reference: large
        at impacts and in flight, which is why the raw one is not used.
    reference_held
        (n,) True where the heading was turning and the gravity reference
        was held (the gyroscope alone carried the orientation).
    """

    quat: np.ndarray
    gravity_ref_sensor: np.ndarray
    acc_error_deg: np.ndarray
    reference_held: np.ndarray


class OrientationFilter:
    """Impact-robust orientation of one sensor; push chunks, get quaternions.

    Parameters
    ----------
    sampling_rate_hz
        Uniform sample rate of the data pushed.
    gyr_bias_radps
        Gyroscope bias from the standing calibration, subtracted first.
    gravity_sensor
        Gravity's direction in the sensor frame at the start (standing).
    gain
        Madgwick gain (rad/s).
    cutoff_hz
        Cut-off of the gravity reference's low-pass filter.
    hold_turns
        Hold the gravity reference through turns (below).  Only with a known
        gyroscope bias (standing calibration): the turn test reads the
        strapdown frame's vertical rate, and with a rough bias that frame
        tilts within minutes, the runner's oscillations leak into the test and
        the reference was held nearly all the time on real trials while the
        gyroscope alone drifted by tens of degrees.
    """

    def __init__(
        self,
        sampling_rate_hz: float,
        gyr_bias_radps: np.ndarray,
        gravity_sensor: np.ndarray,
        *,
        gain: float = DEFAULT_GAIN,
        cutoff_hz: float = GRAVITY_CUTOFF_HZ,
        hold_turns: bool = True,
    ):
        self.dt = 1.0 / sampling_rate_hz
        self.gain = gain
        self.bias = np.asarray(gyr_bias_radps, float)
        q0 = quat_from_gravity(gravity_sensor)
        self._q_inertial = q0.copy()
        self._q = q0.copy()
        self._sos = butter(GRAVITY_ORDER, cutoff_hz, fs=sampling_rate_hz, output="sos")
        g0 = rotate(q0[None], np.asarray(gravity_sensor, float)[None])[0]
        g0 = g0 / np.linalg.norm(g0) * np.linalg.norm(gravity_sensor)
        zi = sosfilt_zi(self._sos)
        self._zi = zi[:, :, None] * g0[None, None, :]
        self._zi_rate = np.zeros((self._sos.shape[0], 2))
        self._hold: np.ndarray | None = None  # reference held through a turn
        self._g_last = g0
        # The look-ahead only serves the turn hold.  Without it the reference would lag gravity by the delay
        # for nothing: with a bias found from running (no standing), gravity moves 1-2 deg/s in the
        # quasi-inertial frame on real trials, and 3 s of lag left the stride-mean obliquity 5 deg (SD) off
        # the accelerometer's stride-mean vertical on sisfall-dev (4 deg without the delay).
        self._delay = max(int(TURN_LOOKAHEAD_S * sampling_rate_hz), 1) if hold_turns else 1
        # The last `delay` samples of quasi-inertial specific force and turn flags.
        self._f_hist = np.tile(g0, (self._delay, 1))
        self._turn_hist = np.zeros(self._delay, dtype=bool)
        self._hold_turns = hold_turns


    def push(self, gyr_radps: np.ndarray, acc_mps2: np.ndarray) -> FusionResult:
        """Filter the next chunk of samples (uniformly sampled, sensor frame)."""
        if gyr_radps.shape[0] == 0:
            empty = np.empty((0, 3))
            return FusionResult(np.empty((0, 4)), empty, np.empty(0), np.empty(0, dtype=bool))
        gyr = np.ascontiguousarray(gyr_radps - self.bias)
        q_in = strapdown(self._q_inertial, gyr, self.dt)
        self._q_inertial = q_in[-1].copy()
        f_in = rotate(q_in, acc_mps2)
        yaw_rate = rotate(q_in, gyr)[:, 2]
        yaw_rate_lp, self._zi_rate = sosfilt(self._sos, yaw_rate, zi=self._zi_rate)
        n, d = f_in.shape[0], self._delay
        f_all = np.concatenate([self._f_hist, f_in])
        turn_all = np.concatenate([self._turn_hist, (np.abs(yaw_rate_lp) > TURN_HOLD_RADPS) & self._hold_turns])
        self._f_hist, self._turn_hist = f_all[-d:], turn_all[-d:]
        # Sample i of this chunk feeds the specific force of d samples earlier,
        # left out if the heading turned at any time since then.
        turning = maximum_filter1d(turn_all.astype(np.int8), d + 1, origin=d // 2)[d:].astype(bool)
        delayed = f_all[:n]
        g_in = np.empty_like(f_in)
        edges = np.flatnonzero(np.diff(turning.astype(np.int8))) + 1
        for i0, i1 in zip(np.concatenate([[0], edges]), np.concatenate([edges, [n]])):
            if turning[i0]:
                if self._hold is None:
                    self._hold = self._g_last.copy()
                x = np.broadcast_to(self._hold, (i1 - i0, 3))
            else:
                self._hold = None
                x = delayed[i0:i1]
            g_in[i0:i1], self._zi = sosfilt(self._sos, x, axis=0, zi=self._zi)
            self._g_last = g_in[i1 - 1]
        g_ref = rotate(q_in, g_in, inverse=True)
        quat = madgwick_imu(self._q, gyr, np.ascontiguousarray(g_ref), self.dt, self.gain)
        self._q = quat[-1].copy()
        cosang = np.einsum("ij,ij->i", acc_mps2, g_ref) / (
            row_norms(acc_mps2) * row_norms(g_ref) + 1e-12
        )
        return FusionResult(quat, g_ref, np.degrees(np.arccos(np.clip(cosang, -1, 1))), turning)


class GravityOnlyFilter:
    """Tilt of an accelerometer-only sensor: the stride-averaged specific force is gravity.

    With no gyroscope the orientation within a stride is unknown; the low-passed
    specific force (0.3 Hz, causal, in the sensor frame) gives the segment's
    mean tilt, which is what trunk lean and pelvic tilt (means over a step)
    need.  The quaternion is the smallest rotation taking that direction to
    world z, so its yaw is meaningless: rotation metrics are left empty.
    """

    def __init__(self, sampling_rate_hz: float, gravity_sensor: np.ndarray, *, cutoff_hz: float = GRAVITY_CUTOFF_HZ):
        self._sos = butter(GRAVITY_ORDER, cutoff_hz, fs=sampling_rate_hz, output="sos")
        g0 = np.asarray(gravity_sensor, float)
        self._zi = sosfilt_zi(self._sos)[:, :, None] * g0[None, None, :]

    def push(self, acc_mps2: np.ndarray) -> FusionResult:
        """Filter the next chunk of uniformly sampled specific force (sensor frame)."""
        if acc_mps2.shape[0] == 0:
            return FusionResult(np.empty((0, 4)), np.empty((0, 3)), np.empty(0), np.empty(0, dtype=bool))
        g_ref, self._zi = sosfilt(self._sos, acc_mps2, axis=0, zi=self._zi)
        up = g_ref / np.linalg.norm(g_ref, axis=1, keepdims=True)
        # Smallest rotation taking `up` to z, for every sample at once.
        axis = np.column_stack([up[:, 1], -up[:, 0], np.zeros(len(up))])  # up x z
        s = np.linalg.norm(axis, axis=1)
        angle = np.arctan2(s, up[:, 2])
        scale = np.where(s > 1e-12, np.sin(angle / 2) / np.maximum(s, 1e-12), 0.0)
        quat = np.column_stack([np.cos(angle / 2), axis * scale[:, None]])
        cosang = np.einsum("ij,ij->i", acc_mps2, up) / (np.linalg.norm(acc_mps2, axis=1) + 1e-12)
        return FusionResult(
            quat, g_ref, np.degrees(np.arccos(np.clip(cosang, -1, 1))), np.zeros(len(up), dtype=bool)
        )
