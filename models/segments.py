"""Segment angles of pelvis and trunk relative to standing neutral.

A segment's orientation in the world is ``R = Rz(yaw) Ry(pitch) Rx(roll)``
(ZYX). With segment axes x forward, y left, z up (docs/coordinates.md):

| angle | axis | + means | pelvis | trunk |
| --- | --- | --- | --- | --- |
| roll | x | left side up | obliquity | side lean |
| pitch | y | top forward | anterior tilt | forward lean |
| yaw | z | turn to the left | axial rotation | axial rotation |

Pitch and roll are relative to gravity and do not depend on the heading.
Yaw is relative to an arbitrary, slowly drifting start; per-stride metrics
use it only after removing the stride's own trend.
"""

from __future__ import annotations

import numpy as np

from stridesense.imu.fusion import rotate


def segment_angles(quat: np.ndarray, alignment: np.ndarray) -> np.ndarray:
    """(n, 3) yaw, pitch, roll (rad) of the segment.

    Parameters
    ----------
    quat
        (n, 4) sensor-to-world quaternions.
    alignment
        3x3, columns = segment axes in sensor coordinates
        (:func:`stridesense.imu.calibration.segment_alignment`).
    """
    x_w = rotate(quat, alignment[:, 0])
    y_w = rotate(quat, alignment[:, 1])
    z_w = rotate(quat, alignment[:, 2])
    pitch = -np.arcsin(np.clip(x_w[:, 2], -1, 1))
    roll = np.arctan2(y_w[:, 2], z_w[:, 2])
    yaw = np.unwrap(np.arctan2(x_w[:, 1], x_w[:, 0]))
    return np.column_stack([yaw, pitch, roll])
