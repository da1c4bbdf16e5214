// stridesense session report: the visual replay.
// A scrubber over the session clock moves a pelvis-and-trunk figure (from behind, from the side,
// from above) to the measured angles of the step at that moment; the traces show a cursor there,
// and the cue of the moment is shown. The figure takes each step's measured angles at the step's
// mid-stance and moves smoothly (a cosine ease) from one step's pose to the next within a running bout:
// the pelvis tips from one side to the other, the trunk's lean changes step by step.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("ss-replay-data").textContent);
  var S = D.steps, n = S.t.length, M = S.metrics;
  // The figure's angles (absent when not measured: drawn neutral and dashed).
  S.drop = M.pelvic_drop_deg; S.lean = M.trunk_lean_deg; S.tilt = M.pelvic_tilt_deg;
  S.twist = M.pelvis_trunk_rotation_deg; S.prot = M.pelvic_rotation_deg;
  var state = window.__stridesense = window.__stridesense || {ready: false, errors: [], plots: 0, figures: {}};
  var R = state.replay = {t: D.t0, step: -1, playing: false, speed: 1};
  var $ = function (id) { return document.getElementById(id); };
  var scrub = $("rp-scrub"), play = $("rp-play"), speed = $("rp-speed");
  var rad = Math.PI / 180;

  function fmt(t) {
    var s = Math.max(0, Math.floor(t)), m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function num(v, d) { return (v === null || v === undefined || !isFinite(v)) ? "–" : v.toFixed(d); }
  function at(a, k) { return a ? a[k] : null; }
  function stepAt(t) {  // last step whose initial contact is at or before t, if t is within it
    // The page's step times are rounded to the millisecond: a time given to full precision may lie up to
    // half a millisecond before its own step's rounded contact.
    var lo = 0, hi = n - 1, k = -1, tt = t + 0.0005;
    while (lo <= hi) { var mid = (lo + hi) >> 1; if (S.t[mid] <= tt) { k = mid; lo = mid + 1; } else { hi = mid - 1; } }
    return (k >= 0 && t < S.end[k]) ? k : -1;
  }
  function setLine(id, x1, y1, x2, y2) {
    var el = $(id);
    el.setAttribute("x1", x1.toFixed(2)); el.setAttribute("y1", y1.toFixed(2));
    el.setAttribute("x2", x2.toFixed(2)); el.setAttribute("y2", y2.toFixed(2));
  }
  // Every x axis of a figure (the traces' subplots share one time axis through "matches").
  function xRange(gd, range) {
    var update = {};
    Object.keys(gd._fullLayout).filter(function (k) { return /^xaxis\d*$/.test(k); }).forEach(function (k) {
      if (range) { update[k + ".range"] = range.slice(); } else { update[k + ".autorange"] = true; }
    });
    return update;
  }
  state.xRange = xRange;
  function val(a, k) { var v = (k >= 0 && a) ? a[k] : null; return (v === null || !isFinite(v)) ? 0 : v; }
  function known(a, k) { var v = (k >= 0 && a) ? a[k] : null; return v !== null && v !== undefined && isFinite(v); }
  function mark(id, ok) { $(id).setAttribute("data-missing", ok ? "0" : "1"); }  // not measured: drawn neutral, dashed

  var CONTIGUOUS_S = 0.05;  // a step that starts within this of the previous one's end follows it
  function follows(k) { return k > 0 && Math.abs(S.t[k] - S.end[k - 1]) < CONTIGUOUS_S; }
  function sideSign(k) { return S.side[k] === "L" ? 1 : -1; }
  // The pose of step k: angles of the figure (deg), signed for the stance side. Drop, lean and tilt are reached at
  // mid-stance (S.peak); the rotations just after contact (S.turn): at a left contact the pelvis is turned left
  // (its right side forward) and turns right through the stance, the shoulders against it (real jogging).
  // Positive pelvis and shoulders angles are turned to the runner's left.
  var AT_PEAK = ["drop", "lean", "tilt"], AT_TURN = ["pelvis", "shoulders"];
  S.turn = S.t.map(function (t0, k) { return t0 + D.turnLag * (S.end[k] - t0); });
  function poseOf(k) {
    var sign = sideSign(k), prot = val(S.prot, k), twist = val(S.twist, k);
    return {drop: sign * val(S.drop, k), lean: val(S.lean, k), tilt: val(S.tilt, k),
            pelvis: sign * prot / 2, shoulders: sign * (prot / 2 - twist / 2)};
  }
  // The angles ``keys`` at time t within step k, eased (a cosine) from one step's anchor time P to the next's.
  function eased(t, k, P, keys, out) {
    var a = k, b = k;
    if (t < P[k] && follows(k)) { a = k - 1; } else if (t >= P[k] && k + 1 < n && follows(k + 1)) { b = k + 1; }
    var pa = poseOf(a), pb = poseOf(b);
    var u = a === b ? 0 : (t - P[a]) / Math.max(P[b] - P[a], 1e-6);
    var w = (1 - Math.cos(Math.PI * Math.min(Math.max(u, 0), 1))) / 2;
    keys.forEach(function (key) { out[key] = pa[key] + (pb[key] - pa[key]) * w; });
    return out;
  }
  function poseAt(t, k) { return eased(t, k, S.turn, AT_TURN, eased(t, k, S.peak, AT_PEAK, {})); }
  R.poseAt = poseAt;
  R.peak = S.peak; R.turn = S.turn;

  function drawFigure(t, k) {
    // From behind: the runner's left is on the viewer's left. Positive drop = swing side lower:
    // in left stance the right hip drops.
    var sign = k >= 0 ? sideSign(k) : 0;
    var pose = k >= 0 ? poseAt(t, k) : {drop: 0, lean: 0, tilt: 0, pelvis: 0, shoulders: 0};
    var cx = 110, cy = 150, w = 45, a = pose.drop * rad;
    setLine("rp-behind-pelvis", cx - w * Math.cos(a), cy - w * Math.sin(a), cx + w * Math.cos(a), cy + w * Math.sin(a));
    setLine("rp-behind-trunk", cx, cy, cx, cy - 95);
    // From the side, facing right: forward lean tips the trunk's top forward; anterior tilt tips the pelvis' front down.
    var hx = 95, hy = 150, len = 95, p = 32, l = pose.lean * rad, ti = pose.tilt * rad;
    setLine("rp-side-trunk", hx, hy, hx + len * Math.sin(l), hy - len * Math.cos(l));
    setLine("rp-side-pelvis", hx - p * Math.cos(ti), hy - p * Math.sin(ti), hx + p * Math.cos(ti), hy + p * Math.sin(ti));
    var head = $("rp-side-head");
    head.setAttribute("cx", (hx + (len + 14) * Math.sin(l)).toFixed(2));
    head.setAttribute("cy", (hy - (len + 14) * Math.cos(l)).toFixed(2));
    // From above (forward is up): half of each peak-to-peak amplitude, turning one way then the other.
    var tx = 110, ty = 110, pa = pose.pelvis * rad, sa = pose.shoulders * rad;
    setLine("rp-top-pelvis", tx - 45 * Math.cos(pa), ty + 45 * Math.sin(pa), tx + 45 * Math.cos(pa), ty - 45 * Math.sin(pa));
    setLine("rp-top-shoulders", tx - 60 * Math.cos(sa), ty + 60 * Math.sin(sa), tx + 60 * Math.cos(sa), ty - 60 * Math.sin(sa));
    if (k >= 0) {
      mark("rp-behind-pelvis", known(S.drop, k)); mark("rp-side-trunk", known(S.lean, k));
      mark("rp-side-pelvis", known(S.tilt, k)); mark("rp-top-shoulders", known(S.twist, k));
      mark("rp-top-pelvis", known(S.prot, k));
    }
    document.querySelectorAll(".rp-figure").forEach(function (el) { el.classList.toggle("rp-idle", k < 0); });
    // The labels give the step's own measurements (the figure reaches them at mid-stance).
    $("rp-behind-label").textContent = k >= 0 ? "drop " + num(at(S.drop, k), 1) + "° (" + (sign > 0 ? "right" : "left") +
      " side low)" : "";
    // Without a standing period the side view's zero is the running posture, not upright: said under it.
    $("rp-side-label").textContent = k >= 0 ? "lean " + num(at(S.lean, k), 1) + "° · tilt " +
      num(at(S.tilt, k), 1) + "°" + (D.postureZero ? " from the running posture" : "") : "";
    $("rp-top-label").textContent = k >= 0 ? "counter-rotation " + num(at(S.twist, k), 0) + "°" : "";
  }

  function readout(t, k) {
    var txt = fmt(t) + " · ";
    if (k < 0) { txt += "not running at this moment"; }
    else {
      txt += "step " + (k + 1) + " of " + n + " · " + (S.side[k] === "L" ? "left" : "right") + " stance · drop " +
        num(at(S.drop, k), 1) + "° · lean " + num(at(S.lean, k), 1) + "° · tilt " + num(at(S.tilt, k), 1) +
        "° · counter-rotation " + num(at(S.twist, k), 0) + "° · quality " + S.q[k];
    }
    $("rp-readout").textContent = txt;
    var cue = null;
    for (var i = 0; i < D.cues.length; i++) { if (D.cues[i].t <= t && t - D.cues[i].t < D.cueShowS) { cue = i; } }
    $("rp-cue").textContent = cue === null ? "" : "cue at " + fmt(D.cues[cue].t) + ": " + D.cues[cue].text;
    document.querySelectorAll("#rp-cues li").forEach(function (li, i) { li.classList.toggle("rp-now", i === cue); });
  }

  var lastCursor = 0, cursorTimer = null;
  function cursors(t, force) {
    var now = performance.now();
    if (!force && now - lastCursor < 250) {
      if (!cursorTimer) { cursorTimer = setTimeout(function () { cursorTimer = null; cursors(R.t, true); }, 260); }
      return;
    }
    lastCursor = now;
    D.linked.forEach(function (id) {
      var gd = state.figures[id];
      if (!gd || !window.Plotly) { return; }
      var base = (gd.layout.shapes || []).filter(function (s) { return s.name !== "rp-cursor"; });
      base.push({name: "rp-cursor", type: "line", xref: "x", yref: "paper", x0: t / 60, x1: t / 60, y0: 0, y1: 1,
                 line: {color: "#9467bd", width: 1.5}});
      Plotly.relayout(gd, {shapes: base});
    });
  }

  function seek(t, fromScrub) {
    t = Math.min(Math.max(t, D.t0), D.t1);
    R.t = t;
    var k = stepAt(t);
    R.step = k;
    if (!fromScrub) { scrub.value = t; }
    drawFigure(t, k);
    readout(t, k);
    cursors(t, !R.playing);
  }
  state.seek = seek;

  var lastFrame = null;
  function frame(ts) {
    if (!R.playing) { return; }
    if (lastFrame !== null) { seek(R.t + (ts - lastFrame) / 1000 * R.speed); }
    lastFrame = ts;
    if (R.t >= D.t1) { toggle(false); return; }
    requestAnimationFrame(frame);
  }
  function toggle(on) {
    R.playing = on;
    play.textContent = on ? "pause" : "play";
    lastFrame = null;
    if (on) { if (R.t >= D.t1) { seek(D.t0); } requestAnimationFrame(frame); } else { cursors(R.t, true); }
  }

  scrub.min = D.t0; scrub.max = D.t1; scrub.step = 0.05; scrub.value = D.t0;
  scrub.addEventListener("input", function () { seek(parseFloat(scrub.value), true); });
  play.addEventListener("click", function () { toggle(!R.playing); });
  speed.addEventListener("change", function () { R.speed = parseFloat(speed.value); });
  R.speed = parseFloat(speed.value);
  document.querySelectorAll("#rp-cues li").forEach(function (li) {
    li.addEventListener("click", function () { seek(parseFloat(li.dataset.t)); });
  });
  // The plots are drawn as they come into view (report.js): each is linked to the replay when drawn.
  var syncing = false;
  R.range = null;  // the time range (min) the linked plots are zoomed to; null: all
  function onClick(ev) {
    var pt = ev.points && ev.points[0];
    if (pt && pt.data.type !== "bar") { seek(pt.customdata !== undefined ? +pt.customdata : pt.x * 60); }
  }
  var detail = function () {};
  // A long session's traces are means of consecutive steps; zoomed in to few enough steps, draw every step.
  function makeDetail(traces) {
    var original = traces.data.map(function (tr) {
      return {x: tr.x, y: tr.y, customdata: tr.customdata, mode: tr.mode, hovertemplate: tr.hovertemplate};
    });
    var decimated = traces.data.some(function (tr) { return tr.meta && tr.meta.k > 1; });
    R.detail = false;
    return function (range) {
      if (!decimated) { return; }
      var lo = range ? range[0] * 60 : 0, hi = range ? range[1] * 60 : 0, count = 0;
      if (range) { for (var j = 0; j < n; j++) { if (S.t[j] >= lo && S.t[j] <= hi) { count++; } } }
      var on = !!range && count <= 2 * D.detailMax;
      if (!on && !R.detail) { return; }
      var idx = [], upd = {x: [], y: [], customdata: [], mode: [], hovertemplate: []};
      traces.data.forEach(function (tr, i) {
        if (!tr.meta || tr.meta.k <= 1) { return; }
        idx.push(i);
        if (!on) {
          upd.x.push(original[i].x); upd.y.push(original[i].y); upd.customdata.push(original[i].customdata);
          upd.mode.push(original[i].mode); upd.hovertemplate.push(original[i].hovertemplate);
          return;
        }
        var col = S.metrics[tr.meta.col], xs = [], ys = [], cd = [];
        for (var j = 0; j < n; j++) {
          if (S.t[j] >= lo && S.t[j] <= hi && S.side[j] === tr.meta.side && S.trusted[j] === tr.meta.good) {
            xs.push(S.t[j] / 60); ys.push(col[j]); cd.push(S.t[j]);
          }
        }
        upd.x.push(xs); upd.y.push(ys); upd.customdata.push(cd); upd.mode.push("markers");
        upd.hovertemplate.push("%{x:.2f} min, " + (tr.meta.side === "L" ? "left" : "right") + ": %{y} (one step)" +
                               "<extra></extra>");
      });
      R.detail = on;
      // Data and range in one update, after the zoom's own redraw: a restyle alone would re-range the axis.
      setTimeout(function () {
        Plotly.update(traces, upd, xRange(traces, range), idx);
      }, 0);
    };
  }
  // Zooming the time axis of one plot zooms the others (all in minutes of session time).
  function onRelayout(id, ev) {
    if (!ev) { return; }
    var range, seen = false;  // any subplot's x axis (xaxis, xaxis2, ...: all share the time axis)
    Object.keys(ev).forEach(function (key) {
      var m = /^(xaxis\d*)\.(range\[0\]|range|autorange)$/.exec(key);
      if (!m) { return; }
      seen = true;
      if (m[2] === "range[0]") { range = [ev[key], ev[m[1] + ".range[1]"]]; }
      else if (m[2] === "range") { range = ev[key].slice(); }
      else if (ev[key]) { range = null; }
    });
    if (!seen) { return; }
    if (id === "fig-traces") { detail(range); }
    if (syncing) { return; }
    R.range = range;
    syncing = true;
    var others = D.linked.filter(function (o) { return o !== id && state.figures[o]; });
    Promise.all(others.map(function (o) { return Plotly.relayout(state.figures[o], xRange(state.figures[o], range)); }))
      .then(function () { syncing = false; }, function () { syncing = false; });
  }
  function link(id, gd) {
    if (D.linked.indexOf(id) < 0 || !gd || !gd.on) { return; }
    gd.on("plotly_click", onClick);
    if (id === "fig-traces") { detail = makeDetail(gd); }
    gd.on("plotly_relayout", function (ev) { onRelayout(id, ev); });
    // Drawn after the others were zoomed: show the same range.
    var ready = R.range ? Plotly.relayout(gd, xRange(gd, R.range)) : Promise.resolve();
    ready.then(function () { cursors(R.t, true); });
  }
  document.addEventListener("ss-figure-drawn", function (ev) { link(ev.detail.id, ev.detail.gd); });
  Object.keys(state.figures).forEach(function (id) { link(id, state.figures[id]); });  // drawn before this ran
  var first = S.t.length ? S.t[0] + 0.01 : D.t0;
  seek(first);
})();
