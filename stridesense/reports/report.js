// stridesense reports: starts plotly.js (embedded as text) after the first paint, then draws the plotly
// figures embedded as JSON: those in view first, the others as they scroll into view or, one at a time,
// when the page is idle. Each drawn figure is announced with an "ss-figure-drawn" event (detail: id, gd).
// window.__stridesense tells how far it got, for the tests and the benchmark:
//   firstScreen (and <body data-first-screen="1">): the figures in the first screen are drawn;
//   ready (and <body data-ready="1">): every figure is drawn;  errors: what went wrong on the way.
(function () {
  "use strict";
  var state = window.__stridesense = window.__stridesense || {ready: false, errors: [], plots: 0, figures: {}};
  state.drawMs = {};
  state.drawOrder = [];
  window.addEventListener("error", function (e) { state.errors.push(String(e.message || e)); });
  var specs = Array.prototype.slice.call(document.querySelectorAll("script.ss-fig"));
  var byTarget = {}, waiting = [], busy = false, firstScreen = null;
  specs.forEach(function (spec) { byTarget[spec.dataset.target] = spec; waiting.push(spec.dataset.target); });
  var config = {responsive: true, displaylogo: false, scrollZoom: false,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
  var idle = window.requestIdleCallback ? function (f) { window.requestIdleCallback(f, {timeout: 200}); }
                                        : function (f) { setTimeout(f, 30); };

  var NEAR_PX = 300;  // a figure this close to the screen is drawn before it scrolls in
  function inView(id, margin) {
    var r = document.getElementById(id).getBoundingClientRect();
    return r.bottom > -(margin || 0) && r.top < window.innerHeight + (margin || 0);
  }
  function near(id) { return inView(id, NEAR_PX); }
  function done(id) {
    if (firstScreen && firstScreen.indexOf(id) >= 0) {
      firstScreen.splice(firstScreen.indexOf(id), 1);
      if (!firstScreen.length) { markFirstScreen(); }
    }
    if (state.plots === specs.length) {
      state.ready = true;
      state.readyMs = performance.now();
      document.body.dataset.ready = "1";
      document.dispatchEvent(new CustomEvent("ss-figures-ready"));
    }
  }
  function markFirstScreen() {
    if (state.firstScreen) { return; }
    state.firstScreen = true;
    state.firstScreenMs = performance.now();
    document.body.dataset.firstScreen = "1";
  }
  // Draw one figure (the one asked for, else the next waiting one); figures are drawn one at a time so
  // that scrolling and the replay keep answering between them.
  function drawNext(wanted) {
    if (busy || !waiting.length) { return; }
    var id = wanted && waiting.indexOf(wanted) >= 0 ? wanted : waiting[0];
    waiting.splice(waiting.indexOf(id), 1);
    busy = true;
    var spec = byTarget[id], t0 = performance.now();
    var next = function () {
      busy = false;
      var shown = waiting.filter(near);
      if (shown.length) { drawNext(shown[0]); } else if (waiting.length) { idle(function () { drawNext(); }); }
    };
    try {
      var fig = JSON.parse(spec.textContent);
      Plotly.newPlot(document.getElementById(id), fig.data, fig.layout, config).then(function (gd) {
        state.plots += 1;
        state.drawMs[id] = performance.now() - t0;
        state.figures[id] = gd;
        state.drawOrder.push(id);
        document.dispatchEvent(new CustomEvent("ss-figure-drawn", {detail: {id: id, gd: gd}}));
        done(id);
        next();
      }, function (err) { state.errors.push("figure " + id + ": " + err); next(); });
    } catch (err) {
      state.errors.push("figure " + id + ": " + err);
      next();
    }
  }
  function start() {
    state.firstPaintMs = performance.now();
    var src = document.getElementById("ss-plotly-js");
    if (src && !window.Plotly) {
      var s = document.createElement("script");
      s.textContent = src.textContent;
      document.head.appendChild(s);
    }
    state.drawStartMs = performance.now();  // plotly.js has started by now
    if (!window.Plotly) { state.errors.push("plotly.js did not start"); return; }
    firstScreen = waiting.filter(function (id) { return inView(id, 0); });
    state.firstScreenIds = firstScreen.slice();
    if (!firstScreen.length) { markFirstScreen(); }
    if (window.IntersectionObserver) {
      var seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) { if (e.isIntersecting) { seen.unobserve(e.target); drawNext(e.target.id); } });
      }, {rootMargin: NEAR_PX + "px 0px"});
      waiting.forEach(function (id) { seen.observe(document.getElementById(id)); });
    }
    drawNext(firstScreen[0]);
  }
  if (!specs.length) { markFirstScreen(); state.ready = true; document.body.dataset.ready = "1"; }
  // Let the browser paint the page's text and the replay first: plotly.js takes a while to start.
  else { requestAnimationFrame(function () { setTimeout(start, 0); }); }
})();
