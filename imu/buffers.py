"""Append-only arrays for streaming: amortised O(1) appends, views without copies."""

from __future__ import annotations

import numpy as np


class GrowingArray:
    """An array that grows at the end; ``view`` is the filled part (no copy).

    Parameters
    ----------
    width
        Columns per row, or None for a 1-D array.
    dtype
        Element type.
    """

    def __init__(self, width: int | None = None, dtype=float):
        self._buf = np.empty((1024,) if width is None else (1024, width), dtype=dtype)
        self._n = 0

    def append(self, rows: np.ndarray) -> None:
        """Add rows at the end (capacity doubles when full)."""
        rows = np.asarray(rows)
        need = self._n + rows.shape[0]
        if need > self._buf.shape[0]:
            grown = np.empty((max(need, 2 * self._buf.shape[0]),) + self._buf.shape[1:], dtype=self._buf.dtype)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n:need] = rows
        self._n = need

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in all, so that appends up to that size never copy."""
        if rows > self._buf.shape[0]:
            grown = np.empty((rows,) + self._buf.shape[1:], dtype=self._buf.dtype)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown

    @property
    def view(self) -> np.ndarray:
        """The filled rows; writes go into the buffer."""
        return self._buf[: self._n]

    def __len__(self) -> int:
        return self._n
