// stridesense reports: draws the plotly figures embedded as JSON and tells when it is done.
// window.__stridesense.ready turns true (and <body data-ready="1">) once every figure has rendered;
// errors met on the way are kept in window.__stridesense.errors.
(function () {
  "use strict";
  var state = window.__stridesense = window.__stridesense || {ready: false, errors: [], plots: 0, figures: {}};
  window.addEventListener("error", function (e) { state.errors.push(String(e.message || e)); });
  function draw() {
    var specs = document.querySelectorAll("script.ss-fig");
    var pending = [];
    specs.forEach(function (spec) {
      var target = document.getElementById(spec.dataset.target);
      try {
        var fig = JSON.parse(spec.textContent);
        var config = {responsive: true, displaylogo: false, scrollZoom: false,
                      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
        pending.push(Plotly.newPlot(target, fig.data, fig.layout, config).then(function (gd) {
          state.plots += 1;
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
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
