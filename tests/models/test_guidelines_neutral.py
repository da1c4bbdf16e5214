"""Guideline flags on angles from neutral need a standing neutral (issue 14)."""

import numpy as np
import pandas as pd

from stridesense.imu.consts import TABLE_COLUMNS
from stridesense.models.summary import summarize


def _steps(neutral: str) -> pd.DataFrame:
    n = 40
    rows = pd.DataFrame({c: np.nan for c in TABLE_COLUMNS}, index=range(n))
    rows["side"] = np.where(np.arange(n) % 2 == 0, "L", "R")
    rows["ic_s"] = np.arange(n) * 0.35
    rows["step_time_s"] = 0.35
    rows["cadence_spm"] = 171.0
    rows["trunk_lean_deg"] = 2.0  # far below 8-10
    rows["pelvic_drop_deg"] = 9.0  # above 7
    rows["quality"] = "ok"
    rows["bout"] = 1
    rows["neutral"] = neutral
    return rows


def test_lean_and_drop_flags_are_raised_with_a_standing_neutral():
    ids = {f.id for f in summarize(_steps("standing")).flags}
    assert {"trunk_lean", "pelvic_drop"} <= ids


def test_lean_and_drop_flags_stay_off_without_a_standing_neutral():
    s = summarize(_steps("running_posture"))
    assert not s.neutral_known
    ids = {f.id for f in s.flags}
    assert "trunk_lean" not in ids and "pelvic_drop" not in ids
