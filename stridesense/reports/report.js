// stridesense reports: starts plotly.js (embedded as text) after the first paint, draws the plotly
// figures embedded as JSON, and tells when it is done.
// window.__stridesense.ready turns true (and <body data-ready="1">) once every figure has rendered;
// errors met on the way are kept in window.__stridesense.errors.
(function () {
  "use strict";
  var state = window.__stridesense = window.__stridesense || {ready: false, errors: [], plots: 0, figures: {}};
  window.addEventListener("error", function (e) { state.errors.push(String(e.message || e)); });
  function draw() {
    state.drawStartMs = performance.now();  // plotly.js has started by now
    var specs = document.querySelectorAll("script.ss-fig");
    var pending = [];
    specs.forEach(function (spec) {
      var target = document.getElementById(spec.dataset.target);
      try {
        var fig = JSON.parse(spec.textContent);
        var config = {responsive: true, displaylogo: false, scrollZoom: false,
                      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
        var t0 = performance.now();
        pending.push(Plotly.newPlot(target, fig.data, fig.layout, config).then(function (gd) {
          state.plots += 1;
          state.drawMs = state.drawMs || {};
          state.drawMs[spec.dataset.target] = performance.now() - t0;
          state.figures[spec.dataset.target] = gd;
          return gd;
        }));
      } catch (err) {
        state.errors.push("figure " + spec.dataset.target + ": " + err);
      }
    });
    Promise.all(pending).then(function () {
      document.dispatchEvent(new CustomEvent("ss-figures-ready"));
      state.ready = true;
      state.readyMs = performance.now();
      document.body.dataset.ready = "1";
    }, function (err) { state.errors.push(String(err)); });
  }
  function start() {
    state.firstPaintMs = performance.now();
    var src = document.getElementById("ss-plotly-js");
    if (src && !window.Plotly) {
      var s = document.createElement("script");
      s.textContent = src.textContent;
      document.head.appendChild(s);
    }
    draw();
  }
  // Let the browser paint the page's text and the replay first: plotly.js takes a while to start.
  requestAnimationFrame(function () { setTimeout(start, 0); });
})();
