// Type-ahead for an event's client, project and activity (templates/business/_pick_fields.html): each field's
// <datalist> is filled from the organisation's lists as you type, projects from the client typed beside them.
// The fields stay ordinary text inputs, so the browser's own list (keyboard, screen readers) does the picking.
(function () {
  "use strict";
  var DELAY = 150;

  function option(result) {
    var el = document.createElement("option");
    el.value = result.name;
    // Shown beside the name: a project's client, or the earlier name that matched what was typed.
    el.label = result.also_known_as ? result.detail + " (formerly " + result.also_known_as + ")" : result.detail;
    if (result.detail) el.dataset.detail = result.detail;
    return el;
  }

  function setUp(box) {
    var inputs = {};
    box.querySelectorAll("input[data-pick]").forEach(function (input) { inputs[input.dataset.pick] = input; });
    var urls = { clients: box.dataset.suggestClients, projects: box.dataset.suggestProjects, activities: box.dataset.suggestActivities };
    var asked = {};
    var timers = {};

    function fill(kind) {
      var input = inputs[kind];
      var list = input && document.getElementById(input.getAttribute("list"));
      if (!list || !urls[kind]) return;
      var url = new URL(urls[kind], window.location.href);
      url.searchParams.set("q", input.value);
      if (kind === "projects" && inputs.clients) url.searchParams.set("client", inputs.clients.value);
      var key = url.toString();
      if (asked[kind] === key) return;
      asked[kind] = key;
      fetch(key, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (asked[kind] !== key) return; // a later keystroke asked again
          list.replaceChildren.apply(list, data.results.map(option));
          box.dataset["filled" + kind] = "true";
        })
        .catch(function () { asked[kind] = null; });
    }

    function later(kind) {
      window.clearTimeout(timers[kind]);
      timers[kind] = window.setTimeout(function () { fill(kind); }, DELAY);
    }

    Object.keys(inputs).forEach(function (kind) {
      inputs[kind].addEventListener("focus", function () { fill(kind); });
      inputs[kind].addEventListener("input", function () { later(kind); });
    });
    if (inputs.clients && inputs.projects) {
      inputs.clients.addEventListener("change", function () { fill("projects"); });
      // A project picked with no client named: the client it belongs to goes in the client field.
      inputs.projects.addEventListener("change", function () {
        if (inputs.clients.value.trim()) return;
        var list = document.getElementById(inputs.projects.getAttribute("list"));
        var picked = Array.prototype.find.call(list.options, function (o) { return o.value === inputs.projects.value; });
        if (picked && picked.dataset.detail && picked.dataset.detail !== "Internal") inputs.clients.value = picked.dataset.detail;
      });
    }
  }

  document.querySelectorAll("[data-pick-fields]").forEach(setUp);
})();
