// The integration page's preview (templates/integrations/_preview.html): while it is being made, ask how it is
// going, and show the page again once it is ready or failed.
(function () {
  "use strict";
  var box = document.querySelector("[data-preview-poll]");
  if (!box) return;
  var url = box.getAttribute("data-preview-poll");
  var shown = box.getAttribute("data-preview-status");
  if (shown !== "queued" && shown !== "running") return;
  var poll = function () {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.status !== shown) window.location.reload();
        else window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  };
  window.setTimeout(poll, 1000);
})();
