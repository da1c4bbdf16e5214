"""Contacts tracked over a stream: push the pelvis' newest signals, the contacts made final come out with sides.

    tracker = ContactTracker()
    tracker.push(time_s, f_vert_mps2, rate_hz, horizon_s, cues, final=False)
    tracker.ic_s, tracker.side, tracker.agree, tracker.bout   # lists, growing

Each push runs imu.events.detect_contacts over the newest few seconds (and
LOOKBACK_S before the first contact still open), keeps the contacts before
``horizon_s`` (later ones may still change as data comes), numbers the bouts
and decides sides: within a run of steps (no step longer than MAX_STEP_S)
sides alternate; a new run's first SIDE_VOTE_STEPS steps vote on the parity
(imu.events.assign_sides), and every step's own cues are checked against its
side by the one rule imu.events.cues_agree.  When most of the last
SLIP_WINDOW_STEPS steps' cues point to the other side, the alternation has
slipped (a contact too many or too few without a long step: a stance split in
two in a turn on the real jogging trials) and the parity flips from that step
on; the steps before it keep their doubt (`low_confidence`).  A contact's cues are taken
relative to its neighbours' (imu.events.detrend_cues), so the newest contact
waits for the next one.  Every decision depends on the samples only, not on
where pushes were cut.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stridesense.imu.events import MAX_STEP_S, assign_sides, cues_agree, detect_contacts, detrend_cues

LOOKBACK_S = 6.0  # context kept before the first contact still open
SIDE_VOTE_STEPS = 20  # a run's left/right parity is decided by its first steps
BOUT_GAP_S = 2.0  # no contact for this long ends a bout (a missed step or two does not)
# The alternation has slipped when the mean vote of the last SLIP_WINDOW_STEPS steps (+1 per cue on the step's side,
# -1 per cue against) is SLIP_MEAN_VOTE or less.  sisfall-dev: at least +0.75 on every trial without a slip, -2
# after a stance split in two (D03_SA07, D04_SA07); sim-external +2 throughout.
SLIP_WINDOW_STEPS = 8
SLIP_MEAN_VOTE = -1.0
# Side cues are averaged over at most this much of a stance: the longest running stance in Kiernan et al. 2023's
# sanity limits (95-270 ms).  On sisfall-dev D03_SA07 (toe-offs found at the next contact) the cues over the whole
# step agreed with the alternation on 41-46 % of steps, over this window on 95-97 %
# (the other nine trials: 93-100 % either way).
CUE_MAX_STANCE_S = 0.27

# cues(ic_s, to_s) -> (m, c) per contact, means over its stance of signals positive in left stance.
CueFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ContactTracker:
    """Contacts, bouts and sides, decided as the pelvis signal streams in."""

    def __init__(self) -> None:
        self.ic_s: list[float] = []
        self.to_s: list[float] = []
        self.edge_ok: list[bool] = []
        self.flight_after: list[bool] = []
        self.bout: list[int] = []
        self.side: list[str] = []
        self.agree: list[bool] = []
        self.parity_flips_s: list[float] = []  # contacts from which the alternation was re-phased
        self.t_final_s = -np.inf  # contacts before this are final
        self._votes: list[float] = []  # the current run's latest steps' votes (cues for their side)

    def lookback_from(self, t_first_s: float) -> float:
        """Where the signal pushed next must start."""
        return max(self.t_final_s - LOOKBACK_S, t_first_s)

    def push(self, time_s: np.ndarray, f_vert_mps2: np.ndarray, rate_hz: float, horizon_s: float,
             cues: CueFunction, *, final: bool = False) -> None:
        """Add the contacts with IC in [t_final, horizon) found in this stretch; decide sides.

        ``time_s`` must start at or before :meth:`lookback_from`.
        """
        if time_s.size < 50:
            return
        ev = detect_contacts(time_s, f_vert_mps2, rate_hz)
        take = (ev.ic_s >= self.t_final_s) & (ev.ic_s < horizon_s)
        if self.ic_s:
            take &= ev.ic_s > self.ic_s[-1] + 0.05
        for ic, to, ok, fl in zip(ev.ic_s[take], ev.to_s[take], ev.edge_ok[take], ev.flight_after[take]):
            # A bout ends at a real stop or walking: no contact for BOUT_GAP_S, or a contact that starts no
            # running step (no flight after it) and no next one within a step.  A step the detector missed
            # leaves a gap in the table; the bout goes on.
            gap = ic - self.ic_s[-1] if self.ic_s else np.inf
            new_bout = gap > BOUT_GAP_S or (not self.flight_after[-1] and gap > MAX_STEP_S)
            self.bout.append((self.bout[-1] if self.bout else 0) + int(new_bout))
            self.ic_s.append(float(ic))
            self.to_s.append(float(to))
            self.edge_ok.append(bool(ok))
            self.flight_after.append(bool(fl))
        if not final and np.isfinite(horizon_s):
            self.t_final_s = horizon_s
        self._decide_sides(cues, final)

    def _decide_sides(self, cues: CueFunction, final: bool) -> None:
        n = len(self.ic_s)
        k = len(self.side)
        if k >= n:
            return
        ic = np.array(self.ic_s)
        while k < n:
            end = k + 1
            if k > 0 and ic[k] - ic[k - 1] <= MAX_STEP_S:
                # The run continues: sides alternate, each step's cues check it.
                while end < n and ic[end] - ic[end - 1] <= MAX_STEP_S:
                    end += 1
                if end == n and not final:
                    end -= 1  # the newest contact's next neighbour may still come
                    if end <= k:
                        return
                self._alternate(k, self._detrended(cues, k, end))
                k = end
                continue
            # A new run: its first steps vote on the parity.
            while end < n and ic[end] - ic[end - 1] <= MAX_STEP_S and end - k < SIDE_VOTE_STEPS:
                end += 1
            run_closed = (end < n and ic[end] - ic[end - 1] > MAX_STEP_S) or final
            if not run_closed and (end - k < SIDE_VOTE_STEPS or end == n):
                return
            c = self._detrended(cues, k, end)
            sides, agree = assign_sides(ic[k:end], c)
            self.side.extend(sides.tolist())
            self.agree.extend(agree.tolist())
            self._votes = [_vote(ci, si) for ci, si in zip(c, sides)][-SLIP_WINDOW_STEPS:]
            k = end

    def _alternate(self, k: int, cue_means: np.ndarray) -> None:
        """Sides of contacts k.. of a continuing run: alternating, re-phased where the alternation slipped."""
        # Each step's vote for "L", as :func:`_vote`, for all at once (for "R": its negative); an hour holds
        # ~12,000 steps.  The votes are small whole numbers: their sums and means are exact in any order.
        for_left = np.sign(np.asarray(cue_means, float)).sum(axis=1).tolist()
        n_before = len(self.side)
        for j, v in enumerate(for_left):
            side = "R" if self.side[-1] == "L" else "L"
            self._votes = (self._votes + [v if side == "L" else -v])[-SLIP_WINDOW_STEPS:]
            if len(self._votes) == SLIP_WINDOW_STEPS and sum(self._votes) / SLIP_WINDOW_STEPS <= SLIP_MEAN_VOTE:
                side = self.side[-1]
                self._votes = [v if side == "L" else -v]
                self.parity_flips_s.append(self.ic_s[k + j])
            self.side.append(side)
        self.agree.extend(cues_agree(cue_means, np.array(self.side[n_before:])).tolist())

    def _detrended(self, cues: CueFunction, k0: int, k1: int) -> np.ndarray:
        """Side cues of contacts k0..k1-1, each relative to its neighbours'."""
        a, b = max(k0 - 1, 0), min(k1 + 1, len(self.ic_s))
        ic = np.array(self.ic_s[a:b])
        raw = cues(ic, np.array(self.to_s[a:b]))
        return detrend_cues(ic, raw)[k0 - a:k0 - a + (k1 - k0)]


def stance_cues(time_s: np.ndarray, angles_rad: np.ndarray, f_world_mps2: np.ndarray, has_gyro: bool,
                ic_s: np.ndarray, to_s: np.ndarray) -> np.ndarray:
    """(m, c) means over each stance [ic, to) of the side cues (positive in left stance).

    With a gyroscope: lateral specific force towards the right of the pelvis
    frame (horizontal: the medial push of a left stance), and pelvic roll.  Without one the levelled frame does
    not follow the pelvis' roll within a stride, so the lateral force seen in
    stance is dominated by the stance-side tilt of the pelvis (swing side
    dropping: +y in left stance), not by the medial push: one cue, its sign
    reversed.
    """
    t, ang, f_w = time_s, angles_rad, f_world_mps2
    ic_s, to_s = np.asarray(ic_s, float), np.asarray(to_s, float)
    # Where no flight level is reached between steps the toe-off found can lie at the next contact, and a window
    # up to it holds the other leg's stance too: cues are taken over CUE_MAX_STANCE_S at most (each contact's
    # window its own, whatever comes next, so that decisions do not depend on where pushes were cut).
    end_s = np.minimum(to_s, ic_s + CUE_MAX_STANCE_S)
    i0 = np.searchsorted(t, ic_s)
    i1 = np.minimum(np.maximum(np.searchsorted(t, end_s), i0 + 2), t.size)
    lo, hi = int(i0.min()), int(i1.max())
    yaw = ang[lo:hi, 0]
    lateral = f_w[lo:hi, 0] * np.sin(yaw) - f_w[lo:hi, 1] * np.cos(yaw)
    # Stances do not overlap: sums over [i0, i1) are every other reduceat segment.
    idx = np.column_stack([i0 - lo, i1 - lo]).ravel()
    n = (i1 - i0).astype(float)
    if idx[-1] >= hi - lo:
        idx = idx[:-1]
    sums = np.add.reduceat(np.column_stack([lateral, ang[lo:hi, 2]]), idx, axis=0)[::2]
    lateral_mean, roll_mean = sums[:, 0] / n, sums[:, 1] / n
    if not has_gyro:
        return -lateral_mean[:, None]
    return np.column_stack([lateral_mean, roll_mean])


def _vote(cue_means: np.ndarray, side: str) -> float:
    """+1 for each cue that points to ``side``, -1 for each against (0 for a cue at exactly 0)."""
    return float(np.sign(np.asarray(cue_means, float)).sum() * (1.0 if side == "L" else -1.0))
