"""Quality remarks known before the metrics (models.quality)."""

import numpy as np

from stridesense.models.quality import REMARKS, known_remarks


def test_each_rule_marks_the_steps_it_is_about_and_no_others():
    ic = np.arange(20) * 0.35
    to = ic + 0.25
    ok = np.ones(20, bool)
    ok[3] = False
    agree = np.ones(20, bool)
    agree[5] = False
    got = known_remarks(ic, to, np.arange(19), edge_ok=ok, sides_agree=agree, gaps_s=[(2.9, 3.0)],
                        moves_s=[5.0], has_gyro=True)
    assert got[3] == ["low_confidence"] and got[5] == ["low_confidence"]
    gap_steps = [k for k, r in got.items() if "gap" in r]
    assert min(gap_steps) == 8 and ic[max(gap_steps)] < 3.0 + 3.0  # the step holding it, and 3 s after
    moved = [k for k, r in got.items() if "sensor_moved" in r]
    assert all(abs(ic[k] - 5.0) < 2.5 for k in moved) and len(moved) > 10
    assert all(k not in got or "realigned" not in got[k] for k in range(19) if ic[k] < 5.0)
    assert 0 not in got  # a clean step carries no remark


def test_every_remark_has_a_purpose_in_the_docs():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    for name in REMARKS:
        assert f"| `{name}` |" in text
