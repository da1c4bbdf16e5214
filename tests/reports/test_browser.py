"""The reports in a real headless browser (Debian's chromium), with the network off.

What a coach would see: the page loads with no errors and fetches nothing,
every plot is drawn and not blank, the scrubber and play move the figure,
and the figure shows the simulator's known pelvic drop and trunk lean,
measured from its coordinates in the page.
"""

import json
import math
import os
import shutil

import numpy as np
import pytest

from chromium import Chromium, chromium_path
from stridesense.reports import figures
from stridesense.reports.compare import compare_report
from stridesense.reports.session import session_report

if chromium_path() is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: .ci/run installs Debian's chromium for these tests", pytrace=False)
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    with Chromium(width=1280, height=900) as b:
        yield b


@pytest.fixture(scope="module")
def report_path(known_session, tmp_path_factory):
    return session_report(known_session[0], tmp_path_factory.mktemp("html") / "report.html")


@pytest.fixture(scope="module")
def opened(browser, report_path):
    browser.events.clear()
    browser.open(report_path)
    return browser


def _scrub(b, t_s: float) -> None:
    """Move the scrubber as a user does: set its value and send the input event."""
    b.evaluate(f"(function(){{var s=document.getElementById('rp-scrub'); s.value={t_s}; "
               "s.dispatchEvent(new Event('input', {bubbles: true}));})()")


def _line(b, elem_id: str) -> tuple[float, float, float, float]:
    return tuple(b.evaluate(f"['x1','y1','x2','y2'].map(function(a){{return parseFloat("
                            f"document.getElementById('{elem_id}').getAttribute(a));}})"))


def test_report_loads_offline_with_no_errors_and_fetches_nothing(opened, report_path):
    assert opened.errors() == []
    assert opened.evaluate("window.__stridesense.errors") == []
    assert opened.requests() == [report_path.resolve().as_uri()]


def test_every_plot_is_drawn_with_its_data(opened, known_data):
    n_specs = opened.evaluate("document.querySelectorAll('script.ss-fig').length")
    assert n_specs == 3
    assert opened.evaluate("window.__stridesense.plots") == n_specs

    def marks(target, selector):
        return opened.evaluate(f"document.querySelectorAll('#{target} {selector}').length")

    # One marker per step and metric (a short session is not decimated); one bar per activity bout.
    steps = known_data.steps
    expected = sum(int(steps[m.column].notna().sum()) for m in figures.shown_metrics(steps))
    assert marks("fig-traces", ".scatterlayer .point") == expected
    assert marks("fig-activity", ".barlayer .point") == len(known_data.activity)
    assert marks("fig-dist", ".barlayer .point") > 10 * len(figures.shown_metrics(steps))


def test_screenshots_show_nonempty_plot_areas(opened, tmp_path):
    from PIL import Image

    for target in ("fig-activity", "fig-traces", "fig-dist"):
        r = opened.evaluate(f"(function(){{var b=document.querySelector('#{target} .cartesianlayer')"
                            ".getBoundingClientRect(); return [b.left + window.scrollX, b.top + window.scrollY, "
                            "b.width, b.height];})()")
        png = tmp_path / f"{target}.png"
        data = opened.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                      "clip": {"x": r[0], "y": r[1], "width": r[2],
                                                               "height": min(r[3], 1500), "scale": 1}})["data"]
        import base64

        png.write_bytes(base64.b64decode(data))
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        coloured = np.mean(pixels < 200)  # marks, lines and bands; white and light grid lines are > 200
        assert pixels.shape[0] > 50 and pixels.shape[1] > 300
        assert coloured > 0.01, f"{target}: plot area looks empty ({coloured:.3%} dark pixels)"


def test_scrubber_moves_the_figure_and_play_advances_it(opened, known_data):
    steps = known_data.steps
    mid = len(steps) // 2
    t_a = float(steps["ic_s"].iloc[mid]) + 0.02
    t_b = float(steps["ic_s"].iloc[mid + 1]) + 0.02
    _scrub(opened, t_a)
    a = _line(opened, "rp-behind-pelvis")
    assert opened.evaluate("window.__stridesense.replay.step") == mid
    _scrub(opened, t_b)
    b = _line(opened, "rp-behind-pelvis")
    assert opened.evaluate("window.__stridesense.replay.step") == mid + 1
    # The next step is on the other leg: the pelvis tips the other way.
    assert np.sign(a[3] - a[1]) == -np.sign(b[3] - b[1]) != 0
    assert steps["side"].iloc[mid] != steps["side"].iloc[mid + 1]
    # Play at 10x for about a second: the session clock moves on by several seconds, and so does the figure.
    opened.evaluate("(function(){var s=document.getElementById('rp-speed'); s.value='10';"
                    "s.dispatchEvent(new Event('change'));})()")
    t_before = opened.evaluate("window.__stridesense.replay.t")
    opened.evaluate("document.getElementById('rp-play').click()")
    opened.pump(1.0)
    opened.evaluate("document.getElementById('rp-play').click()")
    t_after = opened.evaluate("window.__stridesense.replay.t")
    assert opened.evaluate("window.__stridesense.replay.playing") is False
    assert 2.0 < t_after - t_before < 14.0
    assert float(opened.evaluate("document.getElementById('rp-scrub').value")) == pytest.approx(t_after, abs=0.05)
    assert opened.errors() == []


def test_the_figure_shows_the_known_drop_and_lean(opened, known_session):
    """Angles measured from the figure's coordinates against the simulator's truth, step by step."""
    _, sim = known_session
    truth = sim.truth
    truth = truth[(truth["ic_s"] > truth["ic_s"].quantile(0.2)) & (truth["ic_s"] < truth["ic_s"].quantile(0.9))]
    drop_err, lean_err = [], []
    for row in truth.iloc[::4].itertuples():
        _scrub(opened, row.ic_s + 0.05)
        if opened.evaluate("window.__stridesense.replay.step") < 0:
            continue
        x1, y1, x2, y2 = _line(opened, "rp-behind-pelvis")  # from behind: x1 is the runner's left hip
        tilt = math.degrees(math.atan2(y2 - y1, x2 - x1))  # screen y grows downwards: > 0 = right hip lower
        figure_drop = tilt if row.side == "L" else -tilt  # the swing side is the lower one
        drop_err.append(figure_drop - row.pelvic_drop_deg)
        x1, y1, x2, y2 = _line(opened, "rp-side-trunk")  # from the side, facing right: hip to shoulders
        lean_err.append(math.degrees(math.atan2(x2 - x1, y1 - y2)) - row.trunk_lean_deg)
    drop_err, lean_err = np.abs(drop_err), np.abs(lean_err)
    assert len(drop_err) >= 25
    # The analysis' own per-step error (README: 0.3 deg mean) plus 0.01 deg of drawing rounding.
    assert np.median(drop_err) < 0.8 and drop_err.max() < 2.5, drop_err
    assert np.median(lean_err) < 0.8 and lean_err.max() < 2.5, lean_err


def test_clicking_a_step_in_the_traces_moves_the_replay_there(opened, known_data):
    t = float(known_data.steps["ic_s"].iloc[40])
    opened.evaluate(f"window.__stridesense.figures['fig-traces'].emit('plotly_click', "
                    f"{{points: [{{customdata: {t}, x: {t / 60}, data: {{type: 'scatter'}}}}]}})")
    assert opened.evaluate("window.__stridesense.replay.step") == 40
    assert float(opened.evaluate("document.getElementById('rp-scrub').value")) == pytest.approx(t, abs=0.05)


def test_escaped_names_and_cues_show_as_text_and_never_run(browser, known_session, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(known_session[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    runner = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    manifest["runner"] = runner
    (folder / "manifest.json").write_text(json.dumps(manifest))
    cue = "</script><script>alert(3)</script> keep the hips level"
    (folder / "cues.jsonl").write_text(json.dumps({"time_s": 20.0, "metric": "pelvic_drop_deg", "value": 8.1,
                                                   "text": cue}) + "\n")
    path = session_report(folder, tmp_path / "evil.html")
    browser.events.clear()
    browser.open(path)
    browser.pump(0.3)
    assert browser.dialogs() == []
    assert runner in browser.evaluate("document.querySelector('h1').textContent")
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    # The logged cue is listed, and shown under the figure while it is recent.
    assert browser.evaluate("document.querySelector('#rp-cues li').textContent").endswith(cue)
    _scrub(browser, 21.0)
    assert cue in browser.evaluate("document.getElementById('rp-cue').textContent")
    _scrub(browser, 40.0)
    assert browser.evaluate("document.getElementById('rp-cue').textContent") == ""
    assert browser.errors() == []


def test_comparison_page_draws_both_sessions(browser, known_session, tmp_path):
    path = compare_report(known_session[0], known_session[0], tmp_path / "compare.html")
    browser.events.clear()
    browser.open(path)
    assert browser.errors() == []
    assert browser.evaluate("window.__stridesense.plots") == 2
    names = browser.evaluate("window.__stridesense.figures['fig-compare'].data.map(function(t){return t.name;})")
    assert len(set(names)) == 2 and all(n.startswith(("A: ", "B: ")) for n in names)
