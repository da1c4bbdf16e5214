"""The live view as a person sees it: the command runs in a tmux pane, and the pane's text is read back."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux (Debian package) not installed")
STRIDESENSE = str(Path(sys.executable).with_name("stridesense"))


class Pane:
    """A detached tmux session of its own (private server socket) running one command."""

    def __init__(self, tmp_path, command: str, env: dict | None = None):
        self.socket = f"stridesense-test-{os.getpid()}-{tmp_path.name}"
        self.log = tmp_path / "pane-done"
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", "110", "-y", "45", *env_args,
                        f"{command}; echo exit=$? > {self.log}; sleep 600"], check=True)

    def text(self) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-J"], capture_output=True,
                              text=True).stdout

    def wait_done(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.log.exists():
            time.sleep(0.3)
        assert self.log.exists(), self.text()
        return self.log.read_text().strip()

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@needs_tmux
def test_the_replay_view_shows_the_metrics_the_links_and_a_cue(tmp_path):
    rules = tmp_path / "cues.toml"
    rules.write_text('warmup_steps = 5\n[rule.cadence]\nmetric = "cadence_spm"\nlow = 200\n'
                     'text_low = "quicker, shorter steps"\n')
    out = tmp_path / "steps.csv"
    pane = Pane(tmp_path, f"{STRIDESENSE} replay --pelvis recordings/sample/pelvis.csv --trunk "
                          f"recordings/sample/trunk.csv --speed max --cues {rules} --out {out}")
    try:
        assert pane.wait_done(300) == "exit=0"
        screen = pane.text()
    finally:
        pane.close()
    lines = {line.split("  ")[0].strip(): line for line in screen.splitlines() if line.strip()}
    steps = pd.read_csv(out)
    # What the view shows "now": the mean of the last 10 steps, as the table written at the end has them.
    cadence_now = float(lines["cadence"].split()[1])
    assert cadence_now == pytest.approx(steps["cadence_spm"].tail(10).mean(), abs=0.6)
    lean_now = float(lines["trunk lean"].split()[2])
    assert lean_now == pytest.approx(steps["trunk_lean_deg"].tail(10).mean(), abs=0.06)
    for label, column, side in (("contact time", "contact_time_ms", None),
                                ("pelvic drop L stance", "pelvic_drop_deg", "L"),
                                ("pelvic drop R stance", "pelvic_drop_deg", "R"), ("impact", "peak_vgrf_bw", None)):
        shown = float(lines[label][len(label):].split()[0])
        rows = steps if side is None else steps[steps["side"] == side]
        assert shown == pytest.approx(rows[column].tail(10).mean(), rel=0.01, abs=0.06), label
    assert "pelvis" in lines and " up " in lines["pelvis"] and "standing still" in lines["pelvis"]
    assert "trunk" in lines and " up " in lines["trunk"]
    assert "CUE: quicker, shorter steps" in screen
    assert f"{len(steps)} steps" in screen
