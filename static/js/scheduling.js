// The team grid: place each bar from its data-left / data-width (percent of the day). The
// Content-Security-Policy forbids style="" in markup, not styles set from a script.
(function () {
  "use strict";
  document.querySelectorAll(".track .bar[data-left]").forEach(function (bar) {
    var left = parseFloat(bar.dataset.left), width = parseFloat(bar.dataset.width);
    if (isFinite(left) && isFinite(width)) {
      bar.style.left = left + "%";
      bar.style.width = width + "%";
    }
  });
})();
