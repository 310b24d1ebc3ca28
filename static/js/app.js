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

// Live sync state (settings and integration pages), the one poller of each page: each integration's running sync,
// last result, next check and push, from integrations:live. Every 2 s while a sync is queued or running, every
// 20 s otherwise; the server answers 304 while nothing changed; a hidden tab polls rarely. An integration page
// opened while its sync ran (data-running="1") reloads when the sync ends, to show the whole result.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch) return;
  var etag = "", delay = 0, timer = null, busy = false, active = false;
  var RUNNING = 2000, IDLE = 20000, HIDDEN = 30000, FAILING = 10000;
  var reloadWhenDone = !!root.dataset.running;
  var clock = function (iso) {
    var d = new Date(iso);
    return d.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  };
  var counts = function (run) { return run.changes + (run.conflicts ? " · " + run.conflicts + " conflicts" : "") + (run.unsynced ? " · " + run.unsynced + " not synced" : ""); };
  var describe = function (state) {
    var r = state.running;
    return {
      running: r ? (r.queued ? "Sync queued since " + clock(r.since) + ", waiting for a worker" : "Sync running" + (r.since ? " since " + clock(r.since) : "")) + " · started by " + r.trigger_label : "Not running",
      last: state.last_run ? "Last sync: " + state.last_run.status_label + (state.last_run.finished_at ? " " + clock(state.last_run.finished_at) : "") + " · " + counts(state.last_run)
        : (state.last_checked ? "Last checked " + clock(state.last_checked) + ", no changes" : "Last sync: not yet"),
      next: state.paused ? "Paused" : (state.next_check ? "Next check " + clock(state.next_check) : "No scheduled check"),
      push: state.push_label
    };
  };
  var show = function (data) {
    active = data.integrations.some(function (state) { return !!state.running; });
    if (reloadWhenDone && !active) { window.location.reload(); return; }
    data.integrations.forEach(function (state) {
      var box = document.querySelector('[data-live-integration="' + state.id + '"]');
      if (!box) return;
      var text = describe(state);
      Object.keys(text).forEach(function (part) { box.querySelector('[data-live="' + part + '"]').textContent = text[part]; });
      box.dataset.running = state.running ? state.running.trigger : "";
      box.querySelector('[data-live="running"]').setAttribute("aria-busy", state.running ? "true" : "false");
      box.hidden = false;
    });
  };
  var schedule = function () { busy = false; timer = window.setTimeout(poll, document.hidden ? Math.max(delay, HIDDEN) : delay); };
  var poll = function () {
    busy = true;
    fetch(root.dataset.liveUrl, { headers: etag ? { Accept: "application/json", "If-None-Match": etag } : { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 304) return null;
        if (!r.ok) throw new Error(r.status);
        etag = r.headers.get("ETag") || "";
        return r.json();
      })
      .then(function (data) { if (data) show(data); delay = active ? RUNNING : IDLE; schedule(); })
      .catch(function () { delay = FAILING; schedule(); });
  };
  // Back from a hidden tab: look at once instead of waiting out the slow interval.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !busy) { window.clearTimeout(timer); poll(); }
  });
  poll();
})();
