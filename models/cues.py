"""Biofeedback cues for a runner, from the last few steps.

A cue is spoken or shown when the rolling mean of the last ``window_steps``
trusted steps crosses a guideline threshold (models.guidelines), and not
again for ``refractory_s`` seconds, so the runner is not nagged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stridesense.models.guidelines import CADENCE_LOW_SPM, DROP_HIGH_DEG, LEAN_BAND_DEG, LEAN_FAR_DEG
from stridesense.models.summary import trusted_mask


@dataclass(frozen=True)
class Cue:
    """A short instruction for the runner at a moment of the session."""

    t_s: float
    id: str
    text: str


@dataclass
class CueEngine:
    """Turn completed steps into cues.

    Parameters
    ----------
    window_steps
        Steps in the rolling mean.
    refractory_s
        Session seconds before the same cue may come again.
    """

    window_steps: int = 12
    refractory_s: float = 60.0
    _recent: deque = field(default_factory=deque)
    _last: dict = field(default_factory=dict)

    def push(self, steps: pd.DataFrame) -> list[Cue]:
        """Add newly completed steps; return the cues due now."""
        cues: list[Cue] = []
        if steps is None or steps.empty:
            return cues
        for _, row in steps[trusted_mask(steps["quality"])].iterrows():
            self._recent.append(row)
            while len(self._recent) > self.window_steps:
                self._recent.popleft()
            if len(self._recent) == self.window_steps:
                cues += self._check(float(row["ic_s"]))
        return cues

    def _check(self, t: float) -> list[Cue]:
        df = pd.DataFrame(list(self._recent))

        def mean(col):
            return float(df[col].astype(float).mean()) if col in df else float("nan")

        due = []
        lean, drop, cadence = mean("trunk_lean_deg"), mean("pelvic_drop_deg"), mean("cadence_spm")
        if np.isfinite(lean) and lean < LEAN_FAR_DEG[0]:
            due.append(("lean", f"lean forward a little from the ankles (trunk {lean:.0f} deg, aim {LEAN_BAND_DEG[0]:.0f}-{LEAN_BAND_DEG[1]:.0f})"))
        if np.isfinite(drop) and drop > DROP_HIGH_DEG:
            due.append(("drop", f"keep the hips level: squeeze the standing-side glute (drop {drop:.0f} deg)"))
        if np.isfinite(cadence) and cadence < CADENCE_LOW_SPM:
            due.append(("cadence", f"quicker, shorter steps ({cadence:.0f} spm)"))
        out = []
        for cue_id, text in due:
            if t - self._last.get(cue_id, -np.inf) >= self.refractory_s:
                self._last[cue_id] = t
                out.append(Cue(t, cue_id, text))
        return out
