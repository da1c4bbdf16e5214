"""A clip-on sensor that moves on the body mid-session.

A clip slides on the waistband: the sensor turns relative to the segment.
The gyroscope sees that rotation, so the sensor's orientation in the world
stays right, but the sensor-to-segment alignment found at the start no
longer holds: the segment angles jump (pelvic tilt by the slip's angle).

Detection: over continuous running, the segment's mean pitch and roll in the
6 s before and the 6 s after each moment (2 s apart) should agree within a
few degrees; a runner's posture drifts slowly (fatigue, hills), a slip is
sudden: the posture holds still within each window and jumps between them
(a drift that moves the windows' means apart also moves each window's two
halves apart, and is measured as posture, never re-zeroed).  Re-estimation
assumes the runner's posture is the same just before and just after: the rotation that takes the mean vertical and the forward
axis seen before to the ones seen after is the slip.  A slip purely about
the vertical axis does not change pitch or roll and is not detected.

A clip moves when it is knocked: only a jump with a jolt near it (a short
burst of angular rate or acceleration, above 10 Hz, stronger than any stride
of the running around it shows) is a slip and re-aligned.  A jump without
a jolt is kept as a posture jump: its steps are flagged, nothing is re-zeroed.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

from stridesense.errors import CalibrationError
from stridesense.imu.buffers import GrowingArray
from stridesense.imu.calibration import forward_axis
from stridesense.imu.fusion import rotate
from stridesense.imu.vectors import row_norms

SHIFT_DEG = 4.0  # a sudden change of mean pitch or roll larger than this is a slip
WINDOW_S = 6.0
GAP_S = 2.0  # each window stays this far from the moment tested
RUNNING_STD_MPS2 = 2.5  # |specific force| varies more than this while running (walking ~1-2)
# Within each 6-s window, the first and second halves' posture agree within this share of the jump: a
# linear drift gives 0.3 (half-window centres 3 s apart, window centres 10 s apart), a slip about 0.
ABRUPT_RATIO = 0.15
# ... and no 1-s block of either window strays further than this share of the jump (a dip and back).
STEADY_RATIO = 0.5
TURN_RADPS = 0.03  # runners lean into turns: no slip test while the heading turns faster
TURN_RANGE_RAD = 0.35  # ... or while it spans more than 20 degrees (axial rotation alone: about 10)

JOLT_HZ = 10.0  # a knock rattles the clip above this; a stride's rotations and sway stay below
JOLT_NEAR_S = GAP_S  # the jolt is looked for this close to the located jump
# The jolt's peak (high-passed angular rate or acceleration) is at least this many times the largest
# of the running in the two windows around it (simulated knocks: 4-15; no knock: 0.8-1.1).
JOLT_RATIO = 2.0
# Live screen for jolts, before the posture checks (8 s later) can tell a slip: a block whose peak stands
# this far above the 6 s of running before it; the steps near it wait for the checks (~13 s).  Measured
# (tests/imu/test_mounting.py): simulated knocks 4.2-30; running without one at most 1.6 (own simulator,
# real jogging, the outside simulator's pelvis) but up to 3.9 at the outside simulator's trunk (sharp
# impact transients: 7-9 screens in 150 s at 1.5, 2-4 at 2.0, 0-1 at 3.0).  Above the slip test's own
# JOLT_RATIO, so a slip with a jolt of 2-3x can still come out on the old alignment live.
JOLT_SCREEN_RATIO = 3.0
JOLT_SCREEN_S = 6.0  # ... over the running this long before it
JOLT_BLOCK_S = 0.5  # blocks this long, read this much after their end (the zero-phase filter's edge) ...
JOLT_PAD_S = 0.25  # ... so a jolt is seen 0.75 s after it at most: before any step after it is out (~1.7 s)


def jolt_ratio(time_s: np.ndarray, quat: np.ndarray, acc_mps2: np.ndarray, t_s: float, rate_hz: float) -> float:
    """How much stronger the sharpest motion within JOLT_NEAR_S of ``t_s`` is than the running's around it.

    The larger of two ratios: peak of the high-passed angular rate (from the
    orientation, sensor frame) and of the high-passed acceleration, near
    ``t_s`` over their peaks in the 6-s windows before and after.
    """
    span = GAP_S + WINDOW_S
    i0, i1 = np.searchsorted(time_s, [t_s - span, t_s + span])
    if i1 - i0 < 30 or rate_hz <= 2.5 * JOLT_HZ:
        return 0.0
    t = time_s[i0 + 1:i1]
    r = Rotation.from_quat(quat[i0:i1][:, [1, 2, 3, 0]])
    omega = (r[:-1].inv() * r[1:]).as_rotvec() * rate_hz
    sos = butter(2, JOLT_HZ, "high", fs=rate_hz, output="sos")
    near = np.abs(t - t_s) <= JOLT_NEAR_S
    ref = ~near
    if not near.any() or not ref.any():
        return 0.0
    best = 0.0
    for x in (omega, acc_mps2[i0 + 1:i1]):
        mag = row_norms(sosfiltfilt(sos, x, axis=0))
        best = max(best, float(mag[near].max() / max(mag[ref].max(), 1e-9)))
    return best


def posture_shift_deg(
    time_s: np.ndarray, angles_rad: np.ndarray, f_world_mps2: np.ndarray, t_s: float
) -> float | None:
    """Change of mean (pitch, roll) across ``t_s``, degrees; None unless both sides are straight running."""
    span = GAP_S + WINDOW_S
    j0, j1 = np.searchsorted(time_s, [t_s - span, t_s + span])
    if j1 - j0 < 20 or abs(angles_rad[j1 - 1, 0] - angles_rad[j0, 0]) > TURN_RADPS * 2 * span:
        return None
    means = []
    for lo, hi in ((t_s - GAP_S - WINDOW_S, t_s - GAP_S), (t_s + GAP_S, t_s + GAP_S + WINDOW_S)):
        i0, i1 = np.searchsorted(time_s, [lo, hi])
        if i1 - i0 < 10:
            return None
        # Running throughout: every second of the window, not just on average
        # (a window that spans a stop would compare standing with running).
        norm = np.linalg.norm(f_world_mps2[i0:i1], axis=1)
        pieces = np.array_split(norm, int(WINDOW_S))
        if min(piece.std() for piece in pieces) < RUNNING_STD_MPS2:
            return None
        means.append(angles_rad[i0:i1, 1:].mean(axis=0))
    return float(np.degrees(np.linalg.norm(means[1] - means[0])))


def realign(
    alignment: np.ndarray,
    up_before_sensor: np.ndarray,
    up_after_sensor: np.ndarray,
    forward_after_sensor: np.ndarray | None,
) -> np.ndarray:
    """New sensor-to-segment alignment after a slip.

    Parameters
    ----------
    alignment
        3x3, segment axes (columns) in the sensor's coordinates before the slip.
    up_before_sensor, up_after_sensor
        Mean world vertical in sensor coordinates just before and just after.
    forward_after_sensor
        The segment's forward axis found from running after the slip (sensor
        coordinates), or None to use the vertical alone (smallest rotation).
    """
    a = up_before_sensor / np.linalg.norm(up_before_sensor)
    b = up_after_sensor / np.linalg.norm(up_after_sensor)
    if forward_after_sensor is None:
        rot, _ = Rotation.align_vectors(b[None], a[None])
    else:
        rot, _ = Rotation.align_vectors(
            np.vstack([b, forward_after_sensor]), np.vstack([a, alignment[:, 0]]), weights=[10.0, 1.0]
        )
    new = rot.as_matrix() @ alignment
    # Re-orthonormalise (numerical hygiene).
    u, _, vt = np.linalg.svd(new)
    return u @ vt


def posture_shift_blocks(blocks: np.ndarray, m: int) -> float | None:
    """:func:`posture_shift_deg` at the start of block ``m`` from 1-s block stats (rows of block_stats_many)."""
    gap, win = int(GAP_S), int(WINDOW_S)
    lo, hi = m - gap - win, m + gap + win
    if lo < 0 or hi > len(blocks):
        return None
    pre, post = blocks[lo:m - gap], blocks[m + gap:hi]
    both = np.vstack([pre, post])
    if (both[:, 0] < 10).any() or (both[:, 3] < RUNNING_STD_MPS2).any():
        return None
    if abs(blocks[hi - 1, 5] - blocks[lo, 4]) > TURN_RADPS * 2 * (GAP_S + WINDOW_S) or \
            np.ptp(blocks[lo:hi, 4]) > TURN_RANGE_RAD:
        return None
    # Means weighted by samples per block, as over the samples themselves.
    def mean(b):
        return (b[:, 1:3] * b[:, :1]).sum(axis=0) / b[:, 0].sum()

    shift = float(np.degrees(np.linalg.norm(mean(post) - mean(pre))))
    half = win // 2
    drift = max(np.degrees(np.linalg.norm(mean(b[half:]) - mean(b[:half]))) for b in (pre, post))
    spread = max(np.degrees(np.ptp(b[:, 1:3], axis=0).max()) for b in (pre, post))
    return shift if drift <= ABRUPT_RATIO * shift and spread <= STEADY_RATIO * shift else 0.0


def posture_shifts_blocks(blocks: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """:func:`posture_shift_blocks` for many blocks ``ms`` at once (NaN where it gives None)."""
    gap, win = int(GAP_S), int(WINDOW_S)
    ms = np.asarray(ms, dtype=np.int64)
    out = np.full(ms.size, np.nan)
    nb = len(blocks)
    lo, hi = ms - gap - win, ms + gap + win
    valid = (lo >= 0) & (hi <= nb)
    if not valid.any():
        return out
    lo, hi, m = lo[valid], hi[valid], ms[valid]
    n = blocks[:, 0]
    bad = np.concatenate([[0], np.cumsum((n < 10) | (blocks[:, 3] < RUNNING_STD_MPS2))])
    any_bad = (bad[m - gap] - bad[lo]) + (bad[hi] - bad[m + gap]) > 0
    turned = np.abs(blocks[hi - 1, 5] - blocks[lo, 4]) > TURN_RADPS * 2 * (GAP_S + WINDOW_S)
    spans = np.lib.stride_tricks.sliding_window_view(blocks[:, 4], 2 * (gap + win))[lo]
    turned |= np.ptp(spans, axis=1) > TURN_RANGE_RAD  # a turn and back, or the first lean into a turn
    # Sample-weighted means from running sums (blocks of under 2 samples have NaN means and are `bad`).
    wsum = np.vstack([np.zeros((1, 2)), np.cumsum(np.nan_to_num(blocks[:, 1:3] * n[:, None]), axis=0)])
    nsum = np.concatenate([[0.0], np.cumsum(n)])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pre = (wsum[m - gap] - wsum[lo]) / (nsum[m - gap] - nsum[lo])[:, None]
        mean_post = (wsum[hi] - wsum[m + gap]) / (nsum[hi] - nsum[m + gap])[:, None]
    shift = np.degrees(np.linalg.norm(mean_post - mean_pre, axis=1))
    # A slip is a step, posture drifts: within each window the posture must hold still.
    half = win // 2
    with np.errstate(invalid="ignore", divide="ignore"):
        drift = np.zeros_like(shift)
        for a in (lo, m + gap):
            first = (wsum[a + half] - wsum[a]) / (nsum[a + half] - nsum[a])[:, None]
            second = (wsum[a + win] - wsum[a + half]) / (nsum[a + win] - nsum[a + half])[:, None]
            drift = np.maximum(drift, np.degrees(np.linalg.norm(second - first, axis=1)))
    blocks_deg = np.degrees(blocks[:, 1:3])
    spread = np.zeros_like(shift)
    for a in (lo, m + gap):
        windows = np.lib.stride_tricks.sliding_window_view(blocks_deg, win, axis=0)[a]  # (k, 2, win)
        spread = np.maximum(spread, np.ptp(windows, axis=2).max(axis=1))
    shift = np.where((drift <= ABRUPT_RATIO * shift) & (spread <= STEADY_RATIO * shift), shift, 0.0)
    out[np.flatnonzero(valid)] = np.where(any_bad | turned, np.nan, shift)
    return out


def block_jolt_peaks(time_s: np.ndarray, quat: np.ndarray, acc_mps2: np.ndarray, starts_s: np.ndarray,
                     rate_hz: float, block_s: float = JOLT_BLOCK_S) -> np.ndarray:
    """Peaks of the high-passed (above JOLT_HZ) angular rate and acceleration in consecutive blocks.

    As :func:`jolt_ratio` reads them (angular rate from the orientation, zero-phase filter), over the
    blocks and JOLT_PAD_S either side.  Returns (m, 2): rad/s, m/s^2 (0 where a block has too few samples).
    """
    out = np.zeros((starts_s.size, 2))
    i0, i1 = np.searchsorted(time_s, [starts_s[0] - JOLT_PAD_S, starts_s[-1] + block_s + JOLT_PAD_S])
    if i1 - i0 < 30 or rate_hz <= 2.5 * JOLT_HZ:
        return out
    q = quat[i0:i1].astype(float)
    # Rotation from each sample to the next, sensor frame: conj(q_k) * q_k+1 (w, x, y, z), ~ omega dt / 2.
    w0, v0, w1, v1 = q[:-1, 0], q[:-1, 1:], q[1:, 0], q[1:, 1:]
    rel_v = w0[:, None] * v1 - w1[:, None] * v0 - np.cross(v0, v1)
    rel_w = w0 * w1 + np.einsum("ij,ij->i", v0, v1)
    omega = 2.0 * rel_v * np.sign(rel_w)[:, None] * rate_hz
    sos = butter(2, JOLT_HZ, "high", fs=rate_hz, output="sos")
    t = time_s[i0 + 1:i1]
    block = np.floor((t - starts_s[0]) / block_s).astype(np.int64)
    inside = (block >= 0) & (block < starts_s.size)
    for col, x in enumerate((omega, acc_mps2[i0 + 1:i1])):
        mag = row_norms(sosfiltfilt(sos, np.asarray(x, dtype=float), axis=0))
        np.maximum.at(out[:, col], block[inside], mag[inside])
    return out


def block_stats_many(time_s: np.ndarray, angles_rad: np.ndarray, f_world_mps2: np.ndarray,
                     starts_s: np.ndarray) -> np.ndarray:
    """Stats of consecutive 1-s blocks starting at ``starts_s``.

    Returns
    -------
    (m, 6): samples, mean pitch, mean roll (rad), SD of |f| (m/s^2), first and last yaw (rad).
    """
    edges = np.searchsorted(time_s, np.append(starts_s, starts_s[-1] + 1.0))
    i0, i1 = edges[:-1], edges[1:]
    n = (i1 - i0).astype(float)
    out = np.full((starts_s.size, 6), np.nan)
    out[:, 0] = n
    out[:, 3] = 0.0
    ok = n >= 2
    if not ok.any():
        return out
    norm = row_norms(f_world_mps2[i0[0]:i1[-1]])
    ang = angles_rad[i0[0]:i1[-1]]
    rel = i0 - i0[0]
    safe = np.minimum(rel, max(norm.size - 1, 0))
    sums = np.add.reduceat(np.column_stack([ang[:, 1], ang[:, 2], norm, norm * norm]), safe, axis=0)
    nn = np.maximum(n, 1)[:, None]
    mean = sums / nn
    out[ok, 1] = mean[ok, 0]
    out[ok, 2] = mean[ok, 1]
    out[ok, 3] = np.sqrt(np.clip(mean[ok, 3] - mean[ok, 2] ** 2, 0, None))
    out[ok, 4] = angles_rad[i0[ok], 0]
    out[ok, 5] = angles_rad[i1[ok] - 1, 0]
    return out


class MountWatch:
    """Watch one sensor's posture for a slip on the body, as its samples stream in.

    ``push`` takes the sensor's processed signals so far (uniform clock from
    ``t0_s``); it returns ``(t_slip_s, new_alignment)`` once a slip is found
    and enough running after it is in to re-align (or at the end), else
    None.  A jump of posture with no jolt near it goes to ``jumps_s`` and is
    not re-aligned.  Checks run once a second from ``first_check_s`` on, on 1-s block
    statistics, so a live push costs what it adds.
    """

    def __init__(self, t0_s: float, first_check_s: float, running_s_after: float):
        self.t0_s = t0_s
        self.next_check_s = first_check_s
        self.running_s_after = running_s_after
        self.pending_s: float | None = None
        self.changes_s: list[float] = []  # slips: jump and jolt, re-aligned
        self.jumps_s: list[float] = []  # jumps of posture without a jolt: flagged only
        self._blocks = GrowingArray(6)
        self.screen = False  # live: screen 1-s blocks for jolts (open_jolt_s), see JOLT_SCREEN_RATIO
        self._jolt_peaks = GrowingArray(2)
        self._jolts_open: list[float] = []
        self.jolts_s: list[float] = []  # every block the screen took for a jolt (start, s)

    @property
    def open_jolt_s(self) -> float | None:
        """Start of the earliest jolt (screen) whose posture checks have not run yet, or None."""
        return self._jolts_open[0] if self._jolts_open else None

    def _screen_jolts(self, time_s, quat, acc_mps2, rate_hz, t_avail) -> None:
        n_done, b = len(self._jolt_peaks), JOLT_BLOCK_S
        n_full = int(np.floor((t_avail - JOLT_PAD_S - self.t0_s) / b + 1e-9))  # blocks with their padding in
        if n_full > n_done:
            starts = self.t0_s + b * np.arange(n_done, n_full, dtype=float)
            self._jolt_peaks.append(block_jolt_peaks(time_s, quat, acc_mps2, starts, rate_hz, b))
            peaks, posture, m = self._jolt_peaks.view, self._blocks.view, int(round(JOLT_SCREEN_S / b))
            for k in range(max(n_done, m), n_full):
                start = self.t0_s + k * b
                # Only where a slip check can look: from the first check's windows on, after running (the
                # 1-s posture blocks before this block, all in by now).
                p0, p1 = int(np.floor((k - m) * b)), int(np.floor(k * b))
                if start < self.next_check_s - GAP_S - WINDOW_S - 1.0 or p1 > len(posture) or \
                        (posture[p0:p1, 3] < RUNNING_STD_MPS2).any():
                    continue
                if (peaks[k] >= JOLT_SCREEN_RATIO * peaks[k - m:k].max(axis=0)).any():
                    self._jolts_open.append(start)
                    self.jolts_s.append(start)
        # A jolt is settled once the checks up to JOLT_NEAR_S after its block (a slip within it) have run.
        while self._jolts_open and (self.pending_s is not None
                                    or self.next_check_s > self._jolts_open[0] + b + JOLT_NEAR_S + 1.0):
            self._jolts_open.pop(0)

    def push(self, time_s, angles_rad, f_world_mps2, quat, acc_mps2, alignment, rate_hz, *, final):
        t_avail = time_s[-1]
        span = GAP_S + WINDOW_S
        n_done = len(self._blocks)
        n_full = int(np.floor(t_avail - self.t0_s - 1.0 + 1e-9)) + 1
        if n_full > n_done:
            starts = self.t0_s + np.arange(n_done, n_full, dtype=float)
            self._blocks.append(block_stats_many(time_s, angles_rad, f_world_mps2, starts))
        blocks = self._blocks.view
        # Checks are due once a second while their windows' blocks are complete.  (Counted from the blocks:
        # counted from t_avail, a check whose time rounds up to the next block's start was taken before its
        # last block was in, gave nothing and was never made again, whenever the pushes came that moment --
        # live, every check of a session whose running started in the second half of a second.)
        m_next = int(np.round(self.next_check_s - self.t0_s))
        n_checks = max(len(blocks) - int(GAP_S + WINDOW_S) - m_next + 1, 0)
        if self.pending_s is None and n_checks > 0:
            checks = self.next_check_s + np.arange(n_checks, dtype=float)
            shifts = posture_shifts_blocks(blocks, np.round(checks - self.t0_s).astype(np.int64))
            jumped = np.flatnonzero(shifts > SHIFT_DEG)
            if jumped.size:
                self.pending_s = float(checks[jumped[0]])
                n_checks = int(jumped[0]) + 1
            self.next_check_s += float(n_checks)
        if self.screen:
            self._screen_jolts(time_s, quat, acc_mps2, rate_hz, t_avail)
        if self.pending_s is None:
            return None
        # Localise: the slip is where the jump across it is largest.
        search_end = self.pending_s + 2 * span
        if t_avail < search_end + span + self.running_s_after and not final:
            return None
        times = np.arange(self.pending_s, min(search_end, t_avail - span), 0.25)
        shifts = np.asarray([posture_shift_deg(time_s, angles_rad, f_world_mps2, t) or 0.0 for t in times])
        # The jump is flat within +-GAP of the slip: take the middle of its plateau.
        top = times[shifts >= 0.9 * shifts.max()] if len(times) and shifts.max() > 0 else np.array([self.pending_s])
        t_slip = float((top.min() + top.max()) / 2)
        self.pending_s = None
        self.next_check_s = self.t0_s + np.ceil(t_slip + span + 1.0 - self.t0_s)
        if jolt_ratio(time_s, quat, acc_mps2, t_slip, rate_hz) < JOLT_RATIO:
            self.jumps_s.append(t_slip)  # unsure: flag, never re-zero
            return None
        new = self._realign(time_s, quat, acc_mps2, alignment, rate_hz, t_slip)
        self.changes_s.append(t_slip)
        # Posture blocks after the slip change with the new alignment.
        self._blocks.truncate(int(np.floor(t_slip - self.t0_s)))
        return t_slip, new

    def _realign(self, time_s, quat, acc_mps2, alignment, rate_hz, t_slip):
        span = GAP_S + WINDOW_S
        up_s = rotate(quat, [0.0, 0.0, 1.0], inverse=True)
        t = time_s
        before = (t >= t_slip - span) & (t < t_slip - GAP_S)
        after = (t >= t_slip + GAP_S) & (t < t_slip + span)
        up_before, up_after = up_s[before].mean(axis=0), up_s[after].mean(axis=0)
        rough = realign(alignment, up_before, up_after, None)
        run = (t >= t_slip + GAP_S) & (t < t_slip + GAP_S + self.running_s_after)
        try:
            fwd, _ = forward_axis(quat[run], acc_mps2[run], rough[:, 2], rate_hz)
            return realign(alignment, up_before, up_after, fwd)
        except CalibrationError:
            return rough  # too little running after the slip: the vertical alone
