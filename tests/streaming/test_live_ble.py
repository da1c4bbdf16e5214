"""`stridesense live` over the fake BlueZ, in a tmux pane: the view, a sensor drop-out, and the files left behind.

Real time (about a minute): one test.  No timing bounds: the checks are on what was shown and written.
"""

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ble_harness import PELVIS, TRUNK, bluez, needs_dbus, private_bus  # noqa: F401

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from test_live_view import STRIDESENSE, Pane  # noqa: E402

from stridesense.api import analyze  # noqa: E402
from stridesense.imu.consts import STEP_COLUMNS  # noqa: E402

pytestmark = [needs_dbus, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")]


def test_live_over_the_fake_bluez_shows_a_drop_out_and_leaves_the_analyze_table(bluez, private_bus, tmp_path):
    duration_s = 55.0
    bluez([PELVIS, dict(TRUNK, drops=[[38.0, 3.0]])], seed=11, duration_s=duration_s + 10)
    rules = tmp_path / "cues.toml"
    rules.write_text('warmup_steps = 5\n[rule.cadence]\nmetric = "cadence_spm"\nlow = 200\n'
                     'text_low = "quicker, shorter steps"\n')
    out = tmp_path / "sessions"
    pane = Pane(tmp_path, f"{STRIDESENSE} live --pelvis {PELVIS['address']} --trunk '{TRUNK['name']}' --runner ana "
                          f"--mass-kg 61 --out {out} --cues {rules} --silent --duration-s {duration_s}",
                env={"DBUS_SYSTEM_BUS_ADDRESS": private_bus.address})
    screens = []
    try:
        deadline = time.monotonic() + duration_s + 120
        while not pane.log.exists() and time.monotonic() < deadline:
            screens.append(pane.text())
            time.sleep(0.4)
        assert pane.wait_done(10) == "exit=0", pane.text()
        screens.append(pane.text())
    finally:
        pane.close()
    shown = "\n".join(screens)
    assert "trunk   LOST" in shown or "trunk  LOST" in shown  # the view said so while the trunk was away
    assert "paused (sensor lost): trunk cues" in shown
    assert "CUE: quicker, shorter steps" in shown
    last = screens[-1]
    assert "pelvis  up" in last and "standing still" in last

    (folder,) = out.iterdir()
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "disconnect" and e["role"] == "trunk" for e in events)  # the recording marks it
    assert any(e["kind"] == "gap" and e["role"] == "trunk" for e in events)
    cues = [json.loads(x) for x in (folder / "cues.jsonl").read_text().splitlines()]
    assert cues and {"time_s", "metric", "value", "text"} <= set(cues[0])

    # The live table is the table `analyze` finds in the recording afterwards.
    live = pd.read_csv(folder / "live_steps.csv")
    offline = analyze(session_dir=folder).steps
    assert len(live) == len(offline) > 50
    assert (live["side"].to_numpy() == offline["side"].to_numpy()).all()
    assert (live["quality"].to_numpy() == offline["quality"].to_numpy()).all()
    num = [c for c in STEP_COLUMNS if c not in ("side", "quality")]
    diff = np.nanmax(np.abs(live[num].to_numpy(float) - offline[num].to_numpy(float)), axis=0)
    assert diff.max() < 0.05, dict(zip(num, diff))
