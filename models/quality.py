"""Quality remarks on each step: the rules in one place, each with its purpose (docs/metrics.md).

Remarks known before a step's metrics are measured come from
:func:`known_remarks`; `turning` and `saturated` are found with the metrics
(models.steps) and `trunk_missing` where the trunk's data stop.
"""

from __future__ import annotations

import numpy as np

GAP_SETTLE_S = 3.0  # steps this soon after missing samples are flagged `gap`
MOVE_NEAR_S = 2.5  # steps this close to a sensor slip are flagged `sensor_moved`

# Remark -> what it tells a coach (docs/metrics.md has the table).
REMARKS = {
    "gap": "samples were missing in the step or the 3 s before it",
    "saturated": "an accelerometer axis sat at its range: peaks are clipped",
    "low_confidence": "a stance edge could not be fitted, or both side cues point to the other side",
    "turning": "the heading changed by more than 5 degrees from the stride before to the stride after",
    "trunk_missing": "the trunk sensor has no data for this step",
    "side_uncertain": "accelerometer-only pelvis: which leg is a guess",
    "sensor_moved": "the sensor slipped on the body around this step",
    "posture_jump": "the posture jumped around this step with no jolt near it (a slow slip of the sensor, or the "
                    "runner's own change): measured as it is, nothing re-zeroed",
    "realigned": "measured with the alignment re-estimated after a slip",
    "pelvis_leaning": "the pelvis leaned to one side as a whole over the stride (more than 4 degrees: a turn, "
                      "a camber, a shifted belt; in a turn also the orientation's drift, which only straight strides "
                      "are levelled against): the drop holds that lean, not only the hip's control",
    "toe_off_unplaced": "no toe-off could be placed within the step (models.contact_time)",
}


def known_remarks(ic_s: np.ndarray, to_s: np.ndarray, ks: np.ndarray, *, edge_ok: np.ndarray,
                  sides_agree: np.ndarray, gaps_s: list[tuple[float, float]], moves_s: list[float],
                  has_gyro: bool, jumps_s: list[float] = ()) -> dict[int, list[str]]:
    """Remarks known before the metrics, for steps ``ks`` (indices into the contacts); only steps that have any.

    Parameters
    ----------
    ic_s, to_s
        Every contact so far (step k runs from ``ic_s[k]`` to ``ic_s[k + 1]``).
    edge_ok, sides_agree
        Per contact: stance edges fitted cleanly; the step's own side cues agree with its side.
    gaps_s
        (start, end) of missing samples, either sensor.
    moves_s
        Times the sensors slipped on the body.
    jumps_s
        Times the posture jumped with no jolt (not re-aligned).
    has_gyro
        The pelvis sensor has a gyroscope (else sides are a guess).
    """
    n = ic_s.size
    ic_k = ic_s[ks]
    nxt = np.where(ks + 1 < n, ic_s[np.minimum(ks + 1, n - 1)], to_s[ks])
    moves = np.asarray(moves_s, dtype=float)
    g = np.asarray(gaps_s, dtype=float).reshape(-1, 2)
    near_move = (np.abs(ic_k[:, None] - moves[None, :]) < MOVE_NEAR_S).any(axis=1)
    jumps = np.asarray(jumps_s, dtype=float)
    near_jump = (np.abs(ic_k[:, None] - jumps[None, :]) < MOVE_NEAR_S).any(axis=1)
    flags = [
        ("low_confidence", ~(np.asarray(edge_ok)[ks] & np.asarray(sides_agree)[ks])),
        ("side_uncertain", np.full(ks.size, not has_gyro)),
        # Samples bridged over a gap also disturb the orientation for a few seconds after it.
        ("gap", ((g[None, :, 0] < nxt[:, None]) & (g[None, :, 1] > ic_k[:, None] - GAP_SETTLE_S)).any(axis=1)),
        ("sensor_moved", near_move),
        ("posture_jump", near_jump),
        ("realigned", ~near_move & (ic_k[:, None] > moves[None, :]).any(axis=1)),
    ]
    out: dict[int, list[str]] = {}
    for i in np.flatnonzero(np.any([f for _, f in flags], axis=0)):
        out[int(ks[i])] = [name for name, f in flags if f[i]]
    return out
