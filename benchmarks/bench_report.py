"""Size and opening time of a long session's HTML report in headless chromium.

    python benchmarks/bench_report.py [MINUTES]   # default 60

Simulates a session of MINUTES (pelvis 200 Hz, trunk 104 Hz), writes its
report, and opens it five times in Debian's chromium (headless, network
off, a new profile each time), timing from navigation to the first paint
with content (the summary, flags and replay figure: plain HTML and SVG), to
plotly.js started, and to every plot drawn (``window.__stridesense.ready``).  Also times play at 10x: frames drawn per
second while the replay runs.  Targets: under 8 MB, under 2 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reports"))

from chromium import Chromium  # noqa: E402


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def _open_timed(b: Chromium, path: Path) -> tuple[float, float]:
    """(wall seconds, browser CPU seconds) from navigation to ready."""
    cpu0 = _tree_cpu_s(b.proc.pid)
    wall = b.open(path)
    return wall, _tree_cpu_s(b.proc.pid) - cpu0


def main(minutes: float = 60.0) -> None:
    from stridesense.models.simulator import SimConfig, simulate_session
    from stridesense.reports.data import load_session_data
    from stridesense.reports.session import build_session_report, write_html
    from stridesense.streaming.recording import write_session

    tmp = Path(tempfile.mkdtemp(prefix="stridesense-bench-report-"))
    t = time.perf_counter()
    sim = simulate_session(SimConfig(seed=7, duration_s=minutes * 60.0))
    write_session(tmp / "session", sim.session)
    print(f"simulated {minutes:.0f} min: {len(sim.truth)} steps in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    data = load_session_data(tmp / "session")
    t_analyse = time.perf_counter() - t
    t = time.perf_counter()
    out = write_html(build_session_report(data), tmp / "report.html")
    t_build = time.perf_counter() - t
    size_mb = out.stat().st_size / 1e6
    print(f"analysis {t_analyse:.1f} s, report built and written in {t_build:.2f} s: {size_mb:.2f} MB "
          f"({len(data.steps)} steps)")
    opens, fps, paints, plotly_up, cpus = [], [], [], [], []
    for _ in range(5):
        with Chromium() as b:
            wall, cpu = _open_timed(b, out)
            opens.append(wall)
            cpus.append(cpu)
            assert b.errors() == [], b.errors()
            paints.append(b.evaluate("performance.getEntriesByType('paint').filter(function(e){"
                                     "return e.name === 'first-contentful-paint';})[0].startTime") / 1000)
            plotly_up.append(b.evaluate("window.__stridesense.drawStartMs") / 1000)
            b.evaluate("(function(){var s=document.getElementById('rp-speed'); s.value='10';"
                       "s.dispatchEvent(new Event('change'));})()")
            b.evaluate("window.__frames = 0; (function count(){ window.__frames++; requestAnimationFrame(count); })()")
            f0, t0 = b.evaluate("window.__frames"), b.evaluate("window.__stridesense.replay.t")
            b.evaluate("document.getElementById('rp-play').click()")
            b.pump(2.0)
            b.evaluate("document.getElementById('rp-play').click()")
            fps.append((b.evaluate("window.__frames") - f0) / 2.0)
            advanced = b.evaluate("window.__stridesense.replay.t") - t0
    # The floor: a page holding nothing but plotly.js, loaded the same way.
    from stridesense.reports.page import _plotly_js

    blank = tmp / "plotly-only.html"
    blank.write_text(f"<!DOCTYPE html><html><body><script>{_plotly_js()}</script>"
                     "<script>window.__stridesense = {ready: !!window.Plotly};</script></body></html>")
    floors, floor_cpus = [], []
    for _ in range(5):
        with Chromium() as b:
            wall, cpu = _open_timed(b, blank)
            floors.append(wall)
            floor_cpus.append(cpu)
    print(f"floor, a page of plotly.js alone: median {statistics.median(floors):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in floors)}); browser CPU {statistics.median(floor_cpus):.2f} s")
    print(f"first paint with content: median {statistics.median(paints):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in paints)}); target < 2 s")
    print(f"plotly.js started: median {statistics.median(plotly_up):.2f} s")
    print(f"open to every plot drawn: median {statistics.median(opens):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in opens)}); browser CPU (all its processes) "
          f"{statistics.median(cpus):.2f} s")
    print(f"size {size_mb:.2f} MB; target < 8 MB")
    print(f"load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"play at 10x: {statistics.median(fps):.0f} frames/s, session clock advanced {advanced:.1f} s in 2 s")
    shutil.rmtree(tmp, ignore_errors=True)  # an hour's session folder is about 100 MB


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
