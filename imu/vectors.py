"""Small operations on arrays of 3-vectors, one per row."""

from __future__ import annotations

import numpy as np


def row_norms(v: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row of an (n, 3) array, in its own dtype and unit.

    Same values as ``np.linalg.norm(v, axis=1)``; the sum of squares through
    ``einsum`` is 2-4 times quicker on long arrays, which matters per sample.
    """
    v = np.asarray(v)
    return np.sqrt(np.einsum("ij,ij->i", v, v))
