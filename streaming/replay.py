"""Replay a recorded session through the live pipeline, at any speed.

The same `Analyzer.push` path as live streaming: samples go in chunks in
session-time order, steps and cues come out as they complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from stridesense.imu.data import Session


def replay_chunks(session: Session, *, chunk_s: float = 0.1, speed: float = 1.0,
                  sleep=time.sleep, clock=time.monotonic) -> Iterator[tuple]:
    """Yield ``(t_end_s, pelvis_chunk, trunk_chunk)`` every ``chunk_s`` of session time.

    Parameters
    ----------
    session
        The recording.
    chunk_s
        Session time per chunk, s (0.1 s is a few BLE packets).
    speed
        Replay speed (1 = real time; 0 or less = as fast as possible).
    sleep, clock
        Sleeping and monotonic-clock functions (tests pass fakes).
    """
    pel, tr = session.pelvis, session.trunk
    t0 = pel.time_s[0] if tr is None else min(pel.time_s[0], tr.time_s[0])
    t1 = pel.time_s[-1] if tr is None else max(pel.time_s[-1], tr.time_s[-1])
    start = clock()
    t = t0
    while t <= t1:
        nxt = t + chunk_s
        yield nxt, pel.slice_time(t, nxt), tr.slice_time(t, nxt) if tr is not None else None
        if speed > 0:
            due = (nxt - t0) / speed - (clock() - start)
            if due > 0:
                sleep(due)
        t = nxt
