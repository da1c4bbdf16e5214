"""The session report's content without a browser: data, escaping, bad folders, cue logs."""

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from stridesense.errors import InputError, RecordingError
from stridesense.imu.roles import relabel
from stridesense.reports import figures
from stridesense.reports.data import read_cue_log, replayed_cues, running_time_s
from stridesense.reports.page import esc, script_json
from stridesense.reports.session import build_session_report, replay_data, session_report


def test_report_is_one_file_with_plotly_inlined_once_and_nothing_to_fetch(known_session, known_data, tmp_path):
    html = build_session_report(known_data)
    # plotly.js's own banner appears once: inlined a single time.
    assert html.count("plotly.js (basic - minified) v") == 1
    assert "<script src" not in html.lower() and "<link" not in html.lower()
    assert 'class="ss-fig" data-target="fig-traces"' in html and "fig-activity" in html and "fig-dist" in html


def test_summary_shows_the_simulated_asymmetric_drop_per_side(known_data):
    # The simulator's truth: drop 4 deg in left stance, 9 deg in right stance.
    html = build_session_report(known_data)
    stats = known_data.summary.stats
    assert abs(stats.loc["pelvic_drop_deg", "L_mean"] - 4.0) < 1.0
    assert abs(stats.loc["pelvic_drop_deg", "R_mean"] - 9.0) < 1.0
    assert f"{stats.loc['pelvic_drop_deg', 'L_mean']:.1f}" in html
    # The asymmetry flag is there, with its plain-words advice.
    assert "pelvic drop is asymmetric" in html and "single-leg strength" in html.lower()


def test_replay_data_holds_every_step_with_its_end_and_angles(known_data):
    d = replay_data(known_data)
    steps = known_data.steps
    assert len(d["steps"]["t"]) == len(steps)
    np.testing.assert_allclose(d["steps"]["t"], steps["ic_s"].round(3))
    ends = np.array(d["steps"]["end"])
    starts = np.array(d["steps"]["t"])
    assert np.all(ends > starts)
    # Consecutive running steps: each ends where the next begins (within the 1 ms rounding).
    st = steps["step_time_s"].to_numpy()
    assert np.allclose(ends[:-1][np.isfinite(st[:-1])], (starts + st.round(6))[:-1][np.isfinite(st[:-1])], atol=2e-3)
    assert set(d["steps"]["side"]) == {"L", "R"}
    assert d["t0"] == 0.0 and d["t1"] >= ends.max()


def test_names_and_cue_texts_with_html_or_script_are_escaped(known_session, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(known_session[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["runner"] = '<script>alert("runner")</script>'
    manifest["meta"]["notes"] = "felt <b>great</b> & <iframe src=javascript:alert(4)>"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "cues.jsonl").write_text(json.dumps(
        {"time_s": 20.0, "metric": "trunk_lean_deg", "value": 3.0,
         "text": "</script><img src=x onerror=alert(1)>"}) + "\n")
    html = session_report(folder, tmp_path / "r.html").read_text()
    assert '<script>alert("runner")</script>' not in html
    assert "&lt;script&gt;alert(&quot;runner&quot;)&lt;/script&gt;" in html
    assert "<img src=x onerror" not in html
    assert "<iframe" not in html and "Notes: felt &lt;b&gt;great&lt;/b&gt; &amp; &lt;iframe" in html
    # In the embedded JSON the cue's text cannot close its <script> element.
    assert "\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e" in html


def test_script_json_never_contains_a_closing_tag():
    text = script_json({"a": "</script><!--", "b": [np.float64(np.nan), np.int64(3)]})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"a": "</script><!--", "b": [None, 3]}


def test_a_session_folder_missing_its_samples_names_the_missing_file(known_session, tmp_path):
    folder = tmp_path / "incomplete"
    shutil.copytree(known_session[0], folder)
    (folder / "pelvis.samples.arrow").unlink()
    with pytest.raises(RecordingError, match="pelvis.samples.arrow: missing"):
        session_report(folder, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_a_newer_format_version_is_refused_clearly(known_session, tmp_path):
    folder = tmp_path / "future"
    shutil.copytree(known_session[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RecordingError, match="format version 99 is newer"):
        session_report(folder, tmp_path / "r.html")


def test_a_folder_that_is_no_session_says_what_it_lacks(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="neither manifest.json .* nor pelvis.csv"):
        session_report(tmp_path / "empty", tmp_path / "r.html")
    with pytest.raises(InputError, match="no such session folder"):
        session_report(tmp_path / "absent", tmp_path / "r.html")


def test_cue_log_lines_are_read_and_bad_lines_counted(tmp_path):
    lines = [
        json.dumps({"time_s": 75.5, "metric": "pelvic_drop_deg", "value": 8.2, "text": "keep the hips level"}),
        "not json",
        json.dumps({"metric": "x", "text": "no time"}),
        json.dumps({"time_s": 12.0, "metric": "", "value": None, "text": "quicker steps"}),
        "",
    ]
    (tmp_path / "cues.jsonl").write_text("\n".join(lines))
    cues, skipped = read_cue_log(tmp_path)
    assert skipped == 2
    assert [c["time_s"] for c in cues] == [12.0, 75.5]
    assert cues[1] == {"time_s": 75.5, "metric": "pelvic_drop_deg", "value": 8.2, "text": "keep the hips level"}


def test_without_a_cue_log_the_cues_are_those_of_the_live_engine(known_data):
    assert known_data.cue_source == "replayed"
    # 200 steps of an upright trunk (3 deg, under the engine's 5-deg limit), drop and cadence within their bands:
    # the engine speaks about the trunk only, once its rolling window has filled, and not at every step.
    n = 200
    t = 3.0 + 0.33 * np.arange(n)
    steps = pd.DataFrame({"side": ["L", "R"] * (n // 2), "ic_s": t, "to_s": t + 0.25, "step_time_s": 0.33,
                          "quality": "ok", "trunk_lean_deg": 3.0, "pelvic_drop_deg": 4.0, "cadence_spm": 180.0})
    cues = replayed_cues(steps)
    assert 1 <= len(cues) <= 10
    assert {c["metric"] for c in cues} == {"trunk_lean_deg"}
    assert cues[0]["time_s"] >= t[11] and all(a["time_s"] < b["time_s"] for a, b in zip(cues, cues[1:]))
    assert all(c["value"] is None or abs(c["value"] - 3.0) < 0.01 for c in cues)
    assert all("lean" in c["text"] for c in cues)


def test_running_time_leaves_stops_out():
    steps = pd.DataFrame({"ic_s": [10.0, 10.3, 10.6, 50.0, 50.3], "step_time_s": [0.3, 0.3, 0.3, 0.3, 0.3]})
    np.testing.assert_allclose(running_time_s(steps), [0.0, 0.3, 0.6, 0.9, 1.2])


def test_decimate_means_consecutive_points_and_keeps_small_series():
    x = np.arange(10.0)
    y = np.array([1, 3, 5, 7, 9, 11, 13, 15, 17, np.nan])
    xs, ys, k = figures.decimate(x, y, max_points=4)
    assert k == 3
    np.testing.assert_allclose(xs, [1.0, 4.0, 7.0, 9.0])
    np.testing.assert_allclose(ys, [3.0, 9.0, 15.0, np.nan])
    xs, ys, k = figures.decimate(x, y, max_points=10)
    assert k == 1 and xs is x


def test_a_long_session_is_drawn_with_at_most_the_point_budget():
    n = 10_800  # an hour of steps
    steps = pd.DataFrame({"side": ["L", "R"] * (n // 2), "ic_s": np.arange(n) * 0.333,
                          "quality": ["ok"] * (n - 100) + ["gap"] * 100,
                          "trunk_lean_deg": np.full(n, 9.0)})
    fig = figures.step_traces_figure(steps)
    points = sum(len(t.x) for t in fig.data)
    assert points <= 4 * figures.MAX_POINTS_PER_SIDE
    assert all(t.mode == "lines" for t in fig.data if len(t.x) > 50)


def test_a_pelvis_only_session_reports_what_it_measured_and_why_the_rest_is_missing(tmp_path):
    from sim_sessions import make_session
    from stridesense.reports.data import load_session_data

    folder, _ = make_session(tmp_path / "pelvis-only", seed=43, duration_s=40.0, trunk_rate_hz=None)
    data = load_session_data(folder)
    html = build_session_report(data)
    assert data.steps["trunk_lean_deg"].isna().all()
    assert "no trunk sensor in this session" in html
    # The trunk rows of the per-step plot are left out; the pelvis ones are there.
    titles = [a.text for a in figures.step_traces_figure(data.steps).layout.annotations]
    assert not any(t.startswith("trunk lean") for t in titles) and any(t.startswith("pelvic drop") for t in titles)
    metrics = replay_data(data)["steps"]["metrics"]
    assert "trunk_lean_deg" not in metrics and len(metrics["pelvic_drop_deg"]) == len(data.steps)


def test_when_the_sensors_were_swapped_the_report_says_so_before_any_result(known_session, tmp_path):
    folder = tmp_path / "swapped"
    shutil.copytree(known_session[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for sensor in manifest["sensors"]:  # the pelvis' file labelled trunk and the trunk's labelled pelvis
        sensor["role"] = {"pelvis": "trunk", "trunk": "pelvis"}[sensor["role"]]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    from stridesense.reports.data import load_session_data

    data = load_session_data(folder)
    assert data.info["roles"]["verdict"] == "swapped"
    html = build_session_report(data)
    notice = html.index("analysed with the roles swapped")
    assert html.index("Read first") < notice < html.index("<h2>Summary</h2>")
    assert "SWAPPED: the sensors&#x27; labels were exchanged" in html
    # The analysis' own result: the simulator's drop (4 deg left stance, 9 right) from the real pelvis' samples.
    stats = data.summary.stats
    assert abs(stats.loc["pelvic_drop_deg", "L_mean"] - 4.0) < 1.0 and abs(stats.loc["pelvic_drop_deg", "R_mean"] - 9.0) < 1.0
    # The timeline's bouts add up to the analysis' activity totals.
    for label in ("standing", "walking", "running", "other"):
        total = sum(b - a for a, b, lab in data.activity if lab == label)
        assert total == pytest.approx(data.info["activity"][f"{label}_s"], abs=0.01)


def test_activity_is_classified_on_the_samples_the_analysis_took_for_the_pelvis(known_session):
    """Files given in swapped roles: the timeline (classified once, by the analysis) is the real pelvis'.

    The file given as pelvis (the real trunk) starts 10 s late, so it holds no standing: only the real
    pelvis' samples give the standing bout at the start.
    """
    from stridesense.api import analyze_session, load_session_folder
    from stridesense.imu.data import Session

    session, _ = load_session_folder(known_session[0])
    late_trunk = session.trunk.slice_time(10.0, float("inf"))
    given = Session(relabel(late_trunk, "pelvis"), relabel(session.pelvis, "trunk"), 70.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze_session(given)
    assert result.info["roles"]["verdict"] == "swapped"
    standing = [(a, b) for a, b, lab in result.activity.bouts if lab == "standing"]
    assert standing and standing[0][0] < 1.0 and standing[0][1] > 4.0
    assert result.activity.totals() == result.info["activity"]


def test_a_step_table_lacking_metric_columns_still_makes_a_report(tmp_path):
    """The guideline checks read every metric: absent columns read as not measured, and say so."""
    from stridesense.reports.data import SessionData

    n = 200
    steps = pd.DataFrame({"side": ["L", "R"] * (n // 2), "ic_s": 10.0 + 0.33 * np.arange(n), "step_time_s": 0.33,
                          "quality": "ok", "pelvic_drop_deg": np.where(np.arange(n) % 2 == 0, 4.0, 9.0),
                          "trunk_lean_deg": 3.0})
    data = SessionData(tmp_path, "ana", "", steps, None, {"duration_s": 80.0}, activity=[(10.0, 76.0, "running")])
    html = build_session_report(data)
    assert "mean forward trunk lean 3.0 deg, outside 8-10 deg" in html  # evaluated on the columns it has
    assert "cadence (spm)</td><td>-</td>" in html and "not in this step table" in html
    with pytest.raises(InputError, match="no quality column"):
        build_session_report(SessionData(tmp_path, "", "", steps.drop(columns="quality"), None, {}))


def test_loading_rate_is_said_to_be_experimental_and_in_the_table_only(known_data):
    from stridesense.models.impact import LOADING_RATE_EXPERIMENTAL
    from stridesense.reports.advice import ADVICE

    html = build_session_report(known_data)
    assert "Experimental, in the step table only: the loading rate" in html
    assert html.count(esc(LOADING_RATE_EXPERIMENTAL)) == 2  # its summary row and the methods
    assert "loading_rate_experimental" not in ADVICE  # no such flag is raised (models.guidelines)


def test_the_basic_plotly_bundle_is_used_only_for_its_own_version(monkeypatch):
    import plotly.graph_objects as go
    import plotly.offline

    from stridesense.reports import page

    js, name = page.plotly_bundle()
    assert page.bundle_version(js) == plotly.offline.get_plotlyjs_version() and name.startswith("plotly.js basic")
    assert len(js) < 1.5e6
    monkeypatch.setattr(plotly.offline, "get_plotlyjs_version", lambda: "99.0.0")
    js, name = page.plotly_bundle()
    assert "full bundle" in name and js == plotly.offline.get_plotlyjs()
    # A trace type the basic bundle cannot draw is refused when the page is built, not blank in the browser.
    with pytest.raises(ValueError, match="heatmap"):
        page.figure_block(go.Figure(go.Heatmap(z=[[1, 2]])), "fig-x")


def test_without_a_standing_neutral_the_lean_and_drop_get_no_guideline_band():
    n = 60
    steps = pd.DataFrame({"side": ["L", "R"] * (n // 2), "ic_s": 0.33 * np.arange(n), "step_time_s": 0.33,
                          "quality": "ok", "pelvic_drop_deg": 5.0, "trunk_lean_deg": 3.0, "cadence_spm": 150.0})
    metrics = [figures.METRIC_BY_COLUMN[c] for c in ("pelvic_drop_deg", "trunk_lean_deg", "cadence_spm")]
    with_neutral = figures.step_traces_figure(steps, metrics, neutral_known=True)
    without = figures.step_traces_figure(steps, metrics, neutral_known=False)
    assert len(with_neutral.layout.shapes) == 3
    assert [sh.yref for sh in without.layout.shapes] == ["y3"]  # only cadence's band (not an angle from neutral)
    titles = [a.text for a in without.layout.annotations]
    assert titles[0].endswith("no standing neutral in this session") and "guideline 160 spm" in titles[2]
    t = steps["ic_s"].to_numpy() / 60
    compared = figures.comparison_figure([("A", steps, t), ("B", steps, t)], metrics, ["#111", "#222"], "min", 0.1,
                                         neutral_known=False)
    assert [sh.yref for sh in compared.layout.shapes] == ["y3"]
