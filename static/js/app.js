// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";

  // Calendar colours: the Content-Security-Policy forbids style="" in markup, not styles set from here.
  document.querySelectorAll("[data-color]").forEach(function (el) {
    if (/^#[0-9a-fA-F]{6}$/.test(el.dataset.color)) el.style.setProperty("--calendar-color", el.dataset.color);
  });

  // Phones: the navigation folds into a menu button (its CSS applies below 768px). Without this script the
  // button stays hidden and the menu open, so every page stays reachable.
  var toggle = document.querySelector(".nav-toggle");
  var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (toggle && menu) {
    var setOpen = function (open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("open", open);
    };
    document.documentElement.classList.add("nav-folds");
    toggle.hidden = false;
    toggle.addEventListener("click", function () { setOpen(toggle.getAttribute("aria-expanded") !== "true"); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") { setOpen(false); toggle.focus(); }
    });
  }

  // Copy buttons: copy the named field's value to the clipboard.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      field.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
  });

  // Confirm destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Event forms: hide time inputs for all-day events and the custom rule unless chosen.
  document.querySelectorAll("form.event-form").forEach(function (form) {
    var allDay = form.querySelector("[name=all_day]");
    var repeat = form.querySelector("[name=repeat]");
    function sync() {
      form.querySelectorAll(".timed").forEach(function (el) { el.hidden = allDay && allDay.checked; });
      var custom = form.querySelector(".custom-rule");
      if (custom && repeat) custom.hidden = repeat.value !== "CUSTOM";
    }
    if (allDay) allDay.addEventListener("change", sync);
    if (repeat) repeat.addEventListener("change", sync);
    sync();
  });

  // Import progress: poll until the worker has finished, then show the result.
  var status = document.getElementById("import-status");
  if (status && !status.dataset.finished) {
    var poll = function () {
      fetch(status.dataset.poll, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          var label = status.querySelector(".status");
          label.textContent = job.status_label;
          label.setAttribute("aria-busy", job.finished ? "false" : "true");
          status.querySelector(".counts").textContent = job.created + " created, " + job.updated + " updated.";
          var error = status.querySelector(".job-error");
          error.textContent = job.error; error.hidden = !job.error;
          if (job.problems.length) {
            var list = status.querySelector(".problems ul");
            list.innerHTML = "";
            job.problems.forEach(function (p) {
              var li = document.createElement("li");
              var code = document.createElement("code");
              code.textContent = p.uid || "(no UID)";
              li.appendChild(code);
              li.appendChild(document.createTextNode(": " + p.reason));
              list.appendChild(li);
            });
            status.querySelector(".problems").hidden = false;
          }
          if (!job.finished) window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
})();

// Integration page: while a sync is queued or running, poll its status and reload when it ends.
(function () {
  "use strict";
  var section = document.getElementById("sync-status");
  if (!section || !section.dataset.running) return;
  var poll = function () {
    fetch(section.dataset.poll, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.running) { window.setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  };
  window.setTimeout(poll, 1000);
})();
