"""Size and opening time of a long session's HTML report in headless chromium.

    python benchmarks/bench_report.py [MINUTES]   # default 60

Simulates a session of MINUTES (pelvis 200 Hz, trunk 104 Hz), writes its
report, and opens it five times in Debian's chromium (headless, network
off, a new profile each time, viewport 1280x900), timing from navigation to:

- first paint with content: the summary, flags and replay figure (plain HTML and SVG);
- plotly.js started;
- OPENS: the first screen usable, i.e. its content painted and every plot
  that is in the first screen drawn and interactive (``window.__stridesense.firstScreen``);
- the traces on demand: a coach who scrolls straight to "Every step over
  the run" as soon as the page shows, until that plot is drawn;
- every plot drawn (``window.__stridesense.ready``; plots out of view are
  drawn when they scroll in, or when the page is idle).

The same report is also measured with the plotly package's full plotly.js
bundle instead of the vendored basic one, and a page holding plotly.js alone
gives the floor.  Also times play at 10x.  Targets: under 8 MB, opens under 2 s.
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


def _scroll_to_traces_s(path: Path) -> float:
    """Seconds from navigation to the traces drawn, when the coach scrolls to them once the page shows."""
    with Chromium() as b:
        t0 = time.monotonic()
        b.call("Page.navigate", {"url": path.resolve().as_uri()})
        while not b.evaluate("!!document.getElementById('fig-traces')"):
            time.sleep(0.01)
        b.evaluate("document.getElementById('fig-traces').scrollIntoView()")
        while not b.evaluate("!!(window.__stridesense && window.__stridesense.figures['fig-traces'])"):
            time.sleep(0.02)
        return time.monotonic() - t0


def _measure(out: Path, runs: int) -> dict:
    """Medians (and runs) of each moment over ``runs`` fresh browsers."""
    rows: dict[str, list[float]] = {k: [] for k in ("paint", "plotly", "opens", "first_plots", "traces", "all",
                                                    "cpu", "fps")}
    for _ in range(runs):
        with Chromium() as b:
            cpu0 = _tree_cpu_s(b.proc.pid)
            rows["opens"].append(b.open(out, "window.__stridesense && window.__stridesense.firstScreen"))
            rows["first_plots"].append(b.evaluate("window.__stridesense.firstScreenIds.join(' ') || 'none'"))
            deadline = time.monotonic() + 60
            while not b.evaluate("window.__stridesense.ready") and time.monotonic() < deadline:
                time.sleep(0.02)
            rows["all"].append(b.evaluate("window.__stridesense.readyMs") / 1000)
            rows["cpu"].append(_tree_cpu_s(b.proc.pid) - cpu0)
            assert b.errors() == [], b.errors()
            rows["paint"].append(b.evaluate("performance.getEntriesByType('paint').filter(function(e){"
                                            "return e.name === 'first-contentful-paint';})[0].startTime") / 1000)
            rows["plotly"].append(b.evaluate("window.__stridesense.drawStartMs") / 1000)
            b.evaluate("(function(){var s=document.getElementById('rp-speed'); s.value='10';"
                       "s.dispatchEvent(new Event('change'));})()")
            b.evaluate("window.__frames = 0; (function count(){ window.__frames++; requestAnimationFrame(count); })()")
            f0 = b.evaluate("window.__frames")
            b.evaluate("document.getElementById('rp-play').click()")
            b.pump(2.0)
            b.evaluate("document.getElementById('rp-play').click()")
            rows["fps"].append((b.evaluate("window.__frames") - f0) / 2.0)
        rows["traces"].append(_scroll_to_traces_s(out))
    return rows


def _line(name: str, xs: list[float], unit: str = "s") -> str:
    return f"  {name}: median {statistics.median(xs):.2f} {unit} (runs: {', '.join(f'{x:.2f}' for x in xs)})"


def _floor(tmp: Path, js: str, name: str) -> list[float]:
    page = tmp / f"{name}.html"
    page.write_text(f"<!DOCTYPE html><html><body><script>{js}</script>"
                    "<script>window.__stridesense = {ready: !!window.Plotly};</script></body></html>")
    out = []
    for _ in range(5):
        with Chromium() as b:
            out.append(b.open(page))
    return out


def main(minutes: float = 60.0, runs: int = 5) -> None:
    from plotly.offline import get_plotlyjs

    from stridesense.models.simulator import SimConfig, simulate_session
    from stridesense.reports import page
    from stridesense.reports.data import load_session_data
    from stridesense.reports.session import build_session_report, write_html
    from stridesense.streaming.recording import write_session

    tmp = Path(tempfile.mkdtemp(prefix="stridesense-bench-report-"))
    try:
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
        print(f"analysis {t_analyse:.1f} s, report built and written in {t_build:.2f} s "
              f"({len(data.steps)} steps); {page.plotly_bundle()[1]}")
        basic = page.plotly_bundle
        page.plotly_bundle = lambda: (get_plotlyjs(), "full")
        try:
            full = write_html(build_session_report(data), tmp / "report-full.html")
        finally:
            page.plotly_bundle = basic
        for name, path in (("vendored basic bundle", out), ("plotly package's full bundle", full)):
            rows = _measure(path, runs)
            print(f"{name}: {path.stat().st_size / 1e6:.2f} MB (target < 8 MB); from navigation:")
            print(_line("first paint with content", rows["paint"]))
            print(_line("plotly.js started", rows["plotly"]))
            print(_line(f"OPENS (first screen usable; plots in it: {rows['first_plots'][0]}); "
                        "target < 2 s", rows["opens"]))
            print(_line("scrolled straight to the traces: drawn", rows["traces"]))
            print(_line("every plot drawn", rows["all"]))
            print(_line("browser CPU to every plot drawn (all its processes)", rows["cpu"]))
            print(_line("play at 10x", rows["fps"], "frames/s"))
        for name, js in (("basic", basic()[0]), ("full", get_plotlyjs())):
            print(_line(f"floor, a page of the {name} plotly.js alone", _floor(tmp, js, name)))
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # an hour's session folder is about 100 MB


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
