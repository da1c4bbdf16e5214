// stridesense session report: the visual replay.
// A scrubber over the session clock moves a pelvis-and-trunk figure (from behind, from the side,
// from above) to the measured angles of the step at that moment; the traces show a cursor there,
// and the cue of the moment is shown. Each step's values are held from its initial contact to the next.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("ss-replay-data").textContent);
  var S = D.steps, n = S.t.length;
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
  function stepAt(t) {  // last step whose initial contact is at or before t, if t is within it
    var lo = 0, hi = n - 1, k = -1;
    while (lo <= hi) { var mid = (lo + hi) >> 1; if (S.t[mid] <= t) { k = mid; lo = mid + 1; } else { hi = mid - 1; } }
    return (k >= 0 && t < S.end[k]) ? k : -1;
  }
  function setLine(id, x1, y1, x2, y2) {
    var el = $(id);
    el.setAttribute("x1", x1.toFixed(2)); el.setAttribute("y1", y1.toFixed(2));
    el.setAttribute("x2", x2.toFixed(2)); el.setAttribute("y2", y2.toFixed(2));
  }
  function val(a, k) { var v = (k >= 0 && a) ? a[k] : null; return (v === null || !isFinite(v)) ? 0 : v; }

  function drawFigure(k) {
    // From behind: the runner's left is on the viewer's left. Positive drop = swing side lower:
    // in left stance the right hip drops.
    var sign = k >= 0 ? (S.side[k] === "L" ? 1 : -1) : 0;
    var drop = val(S.drop, k), lean = val(S.lean, k), tilt = val(S.tilt, k);
    var twist = val(S.twist, k), prot = val(S.prot, k);
    var cx = 110, cy = 150, w = 45, a = sign * drop * rad;
    setLine("rp-behind-pelvis", cx - w * Math.cos(a), cy - w * Math.sin(a), cx + w * Math.cos(a), cy + w * Math.sin(a));
    setLine("rp-behind-trunk", cx, cy, cx, cy - 95);
    // From the side, facing right: forward lean tips the trunk's top forward; anterior tilt tips the pelvis' front down.
    var hx = 95, hy = 150, len = 95, p = 32, l = lean * rad, ti = tilt * rad;
    setLine("rp-side-trunk", hx, hy, hx + len * Math.sin(l), hy - len * Math.cos(l));
    setLine("rp-side-pelvis", hx - p * Math.cos(ti), hy - p * Math.sin(ti), hx + p * Math.cos(ti), hy + p * Math.sin(ti));
    var head = $("rp-side-head");
    head.setAttribute("cx", (hx + (len + 14) * Math.sin(l)).toFixed(2));
    head.setAttribute("cy", (hy - (len + 14) * Math.cos(l)).toFixed(2));
    // From above (forward is up): half of each peak-to-peak amplitude, turning one way then the other.
    var tx = 110, ty = 110, pa = sign * prot / 2 * rad, sa = sign * (prot / 2 - twist / 2) * rad;
    setLine("rp-top-pelvis", tx - 45 * Math.cos(pa), ty + 45 * Math.sin(pa), tx + 45 * Math.cos(pa), ty - 45 * Math.sin(pa));
    setLine("rp-top-shoulders", tx - 60 * Math.cos(sa), ty + 60 * Math.sin(sa), tx + 60 * Math.cos(sa), ty - 60 * Math.sin(sa));
    document.querySelectorAll(".rp-figure").forEach(function (el) { el.classList.toggle("rp-idle", k < 0); });
    $("rp-behind-label").textContent = k >= 0 ? "drop " + num(drop, 1) + "° (" + (sign > 0 ? "right" : "left") + " side low)" : "";
    $("rp-side-label").textContent = k >= 0 ? "lean " + num(lean, 1) + "° · tilt " + num(tilt, 1) + "°" : "";
    $("rp-top-label").textContent = k >= 0 ? "counter-rotation " + num(twist, 0) + "°" : "";
  }

  function readout(t, k) {
    var txt = fmt(t) + " · ";
    if (k < 0) { txt += "not running at this moment"; }
    else {
      txt += "step " + (k + 1) + " of " + n + " · " + (S.side[k] === "L" ? "left" : "right") + " stance · drop " +
        num(S.drop[k], 1) + "° · lean " + num(S.lean[k], 1) + "° · tilt " + num(S.tilt[k], 1) +
        "° · counter-rotation " + num(S.twist[k], 0) + "° · quality " + S.q[k];
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
    drawFigure(k);
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
  document.addEventListener("ss-figures-ready", function () {
    D.linked.forEach(function (id) {
      var gd = state.figures[id];
      if (gd && gd.on) {
        gd.on("plotly_click", function (ev) {
          var pt = ev.points && ev.points[0];
          if (pt && pt.data.type !== "bar") { seek(pt.customdata !== undefined ? +pt.customdata : pt.x * 60); }
        });
      }
    });
    seek(R.t);
  });
  var first = S.t.length ? S.t[0] + 0.01 : D.t0;
  seek(first);
})();
