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
        self._adopted = False

    def adopt(self, data: np.ndarray) -> None:
        """Use ``data`` (all rows to come, in order) as the buffer, so that appending its rows copies nothing.

        For offline analysis, where the whole array is already in memory: the
        rows appended must then be exactly the next rows of ``data`` (slices of
        it); anything else is copied into a buffer of its own first.
        """
        if self._n:
            raise ValueError("adopt() before the first append")
        self._buf = data
        self._adopted = True

    def append(self, rows: np.ndarray) -> None:
        """Add rows at the end (capacity doubles when full)."""
        rows = np.asarray(rows)
        need = self._n + rows.shape[0]
        if self._adopted:
            nxt = self._buf[self._n:need]
            if nxt.shape == rows.shape and (rows.size == 0 or (
                    rows.__array_interface__["data"][0] == nxt.__array_interface__["data"][0]
                    and rows.strides == nxt.strides)):
                self._n = need  # the rows are the adopted array's next rows: nothing to copy
                return
            self._buf, self._adopted = self._buf[: self._n].copy(), False  # no longer adoptable
        if need > self._buf.shape[0]:
            grown = np.empty((max(need, 2 * self._buf.shape[0]),) + self._buf.shape[1:], dtype=self._buf.dtype)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n:need] = rows
        self._n = need

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in all, so that appends up to that size never copy."""
        if rows > self._buf.shape[0] and not self._adopted:
            grown = np.empty((rows,) + self._buf.shape[1:], dtype=self._buf.dtype)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown

    def truncate(self, rows: int) -> None:
        """Keep the first ``rows`` rows only (the memory stays for later appends)."""
        self._n = min(max(rows, 0), self._n)

    def drop_front(self, rows: int) -> None:
        """Forget the first ``rows`` rows; the rest move to the front (the memory stays for later appends)."""
        rows = min(max(int(rows), 0), self._n)
        if rows == 0:
            return
        if self._adopted:
            self._buf = self._buf[rows:]  # a view: the adopted rows still to come stay adoptable, nothing copied
        else:
            self._buf[: self._n - rows] = self._buf[rows:self._n]
        self._n -= rows

    def clear(self) -> None:
        """Drop every row and the memory holding them (same width and type)."""
        self._buf = np.empty((0,) + self._buf.shape[1:], dtype=self._buf.dtype)
        self._n = 0
        self._adopted = False

    @property
    def view(self) -> np.ndarray:
        """The filled rows; writes go into the buffer."""
        return self._buf[: self._n]

    def __len__(self) -> int:
        return self._n
