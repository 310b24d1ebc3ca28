// The calendar grid on /calendar/: FullCalendar (static/vendor/fullcalendar) reading and writing through
// calsync's small JSON endpoints (events/grid_views.py). The server stays the source of truth: after every
// change the grid reloads what the server has, and a change refused because a sync got there first (412)
// is said out loud and reloaded, never retried blindly.
const el = document.getElementById("calendar-grid");
// Fields through form.elements: a form's own properties (title, action...) share names with fields.
const form = document.getElementById("quick-form-fields");
const dialog = document.getElementById("quick-form");
const message = document.getElementById("grid-message");
const truncated = document.getElementById("grid-truncated");
const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
const zone = el.dataset.timeZone;
const VIEWS = { d: "timeGridDay", w: "timeGridWeek", m: "dayGridMonth", l: "listWeek" };
const KNOWN = Object.values(VIEWS);
const phone = window.matchMedia("(max-width: 600px)").matches;
const VIEW_KEY = "calsync.grid.view";

// FullCalendar without a time-zone plugin works in wall-clock time of the named zone ("UTC-coercion"): a
// Date's UTC fields hold the clock time in the user's zone, which is how the server sends and reads times.
function wallClock(date) { return date.toISOString().slice(0, 19); }
function day(date) { return date.toISOString().slice(0, 10); }
function addDays(text, days) {
  const d = new Date(text + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + days);
  return day(d);
}

// "Now" in the user's zone (not the browser's), for the current-time line and "today".
function nowInZone() {
  const parts = {};
  new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
}

function say(text, kind) {
  message.textContent = text;
  message.className = "flash " + (kind || "error");
  message.hidden = !text;
}

async function send(url, body, headers) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: Object.assign({ "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" }, headers || {}),
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: "The server did not answer as expected (" + response.status + ")." }; }
  return { ok: response.ok, status: response.status, data: data };
}

function initialView() {
  if (KNOWN.includes(el.dataset.initialView)) return el.dataset.initialView;
  if (phone) return "timeGridDay";
  const stored = window.localStorage.getItem(VIEW_KEY);
  return KNOWN.includes(stored) ? stored : "timeGridWeek";
}

const calendar = new FullCalendar.Calendar(el, {
  timeZone: zone,
  locale: "en-GB",  // the site's language (LANGUAGE_CODE en-gb): day-month order, 24-hour clock
  now: nowInZone,
  initialView: initialView(),
  initialDate: el.dataset.initialDate,
  firstDay: Number(el.dataset.firstDay),
  headerToolbar: {
    left: "prev,next today",
    center: "title",
    right: phone ? "timeGridDay,listWeek" : "timeGridDay,timeGridWeek,dayGridMonth,listWeek",
  },
  buttonText: { today: "Today", day: "Day", week: "Week", month: "Month", list: "Agenda" },
  buttonHints: { prev: "Previous $0", next: "Next $0", today: "Go to today" },
  height: phone ? "70vh" : "78vh",  // a fixed height scrolls, so working hours show first
  nowIndicator: true,
  allDaySlot: true,
  allDayText: "All day",
  slotEventOverlap: false,
  scrollTime: el.dataset.scrollTime,
  businessHours: JSON.parse(document.getElementById("grid-business-hours").textContent),
  eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
  slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
  dayMaxEvents: true,
  views: { dayGridMonth: { dayMaxEvents: 3 } },  // a busy day folds into "+N more" rather than a tall page
  navLinks: true,
  selectable: true,
  selectMirror: true,
  editable: true,
  longPressDelay: 350,
  events: loadEvents,
  select: function (info) { openQuickForm(info.start, info.end, info.allDay); calendar.unselect(); },
  eventDrop: changeEvent,
  eventResize: changeEvent,
  eventDidMount: describeEvent,
  datesSet: function (info) {
    document.getElementById("grid-date").value = day(calendar.getDate());
    if (!phone) window.localStorage.setItem(VIEW_KEY, info.view.type);
  },
});

function loadEvents(info, success, failure) {
  const url = `${el.dataset.feed}?start=${encodeURIComponent(info.startStr.slice(0, 19))}&end=${encodeURIComponent(info.endStr.slice(0, 19))}`;
  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
    .then(function (result) {
      if (!result.ok) { say(result.data.error || "The calendar could not be loaded."); failure(new Error(result.data.error)); return; }
      truncated.hidden = !result.data.truncated;
      success(result.data.events);
    })
    .catch(function (error) { say("The calendar could not be loaded. Check your connection and reload."); failure(error); });
}

// Screen readers hear what a sighted user sees on the block: when, what, and whether it is private or repeats.
function describeEvent(info) {
  const ev = info.event, props = ev.extendedProps;
  const when = ev.allDay ? "All day" : calendar.formatRange(ev.start, ev.end || ev.start, { hour: "2-digit", minute: "2-digit", hour12: false, weekday: "long", day: "numeric", month: "long" });
  const notes = [props.private ? "private" : "", props.recurring ? "repeats" : "", props.showAs === "FREE" ? "shown as free" : ""].filter(Boolean);
  info.el.setAttribute("aria-label", `${ev.title}, ${when}${notes.length ? ", " + notes.join(", ") : ""}`);
  if (!info.el.hasAttribute("href")) info.el.setAttribute("tabindex", "0");
  info.el.dataset.eventId = props.eventId;
  info.el.classList.toggle("is-private", Boolean(props.private));
  info.el.classList.toggle("is-free", props.showAs === "FREE");
}

async function chooseScope() {
  try {
    const module = await import(el.dataset.seriesChoice);
    return await module.chooseScope();
  } catch (error) {
    say("This event repeats, and the choice between this occurrence and the series could not be opened. Reload the page.");
    return null;
  }
}

async function changeEvent(info) {
  const ev = info.event, props = ev.extendedProps;
  let scope = null;
  if (props.recurring) {
    scope = await chooseScope();
    if (!scope) { info.revert(); return; }
  }
  const end = ev.end || (ev.allDay ? new Date(ev.start.getTime() + 86400000) : new Date(ev.start.getTime() + 3600000));
  const body = {
    start: ev.allDay ? day(ev.start) : wallClock(ev.start),
    end: ev.allDay ? day(end) : wallClock(end),
    allDay: ev.allDay,
    recurrenceId: props.recurrenceId,
    scope: scope,
  };
  const url = el.dataset.change.replace("/0/", `/${props.eventId}/`);
  const result = await send(url, body, { "If-Match": `"${props.seq}"` });
  if (result.ok) {
    say(`“${ev.title}” was moved.`, "success");
  } else {
    info.revert();
    say(result.data.error || "The event could not be changed.");
  }
  calendar.refetchEvents();  // new versions (seq) after a change; what a sync changed after a refusal
}

// --- the quick form: a new event from a drag, a click, the button or the N key -------------------------------

function openQuickForm(start, end, allDay) {
  form.reset();
  document.getElementById("quick-form-error").hidden = true;
  form.elements.allDay.checked = allDay;
  form.elements.startDate.value = day(start);
  form.elements.endDate.value = allDay ? addDays(day(end), -1) : day(end);
  form.elements.startTime.value = allDay ? "09:00" : wallClock(start).slice(11, 16);
  form.elements.endTime.value = allDay ? "10:00" : wallClock(end).slice(11, 16);
  showTimes();
  dialog.showModal();
  form.elements.title.focus();
}

function showTimes() {
  form.querySelectorAll(".timed").forEach(function (label) { label.hidden = form.elements.allDay.checked; });
}

function nextHour() {
  const shown = calendar.getDate();
  const now = new Date(nowInZone() + "Z");
  const start = day(shown) === day(now) ? now : new Date(day(shown) + "T09:00:00Z");
  start.setUTCMinutes(0, 0, 0);
  if (start <= now && day(shown) === day(now)) start.setUTCHours(start.getUTCHours() + 1);
  return start;
}

function newEventNow() {
  const start = nextHour();
  openQuickForm(start, new Date(start.getTime() + 3600000), false);
}

form.elements.allDay.addEventListener("change", showTimes);
document.getElementById("quick-cancel").addEventListener("click", function () { dialog.close(); });
document.getElementById("grid-new").addEventListener("click", newEventNow);

form.addEventListener("submit", async function (event) {
  event.preventDefault();
  const allDay = form.elements.allDay.checked;
  const body = {
    title: form.elements.title.value,
    calendar: Number(form.elements.calendar.value),
    allDay: allDay,
    start: allDay ? form.elements.startDate.value : `${form.elements.startDate.value}T${form.elements.startTime.value}:00`,
    end: allDay ? addDays(form.elements.endDate.value, 1) : `${form.elements.endDate.value}T${form.elements.endTime.value}:00`,
    client: form.elements.client.value,
    project: form.elements.project.value,
    activity: form.elements.activity_type.value,
  };
  const result = await send(el.dataset.create, body);
  if (!result.ok) {
    const error = document.getElementById("quick-form-error");
    error.textContent = result.data.error || "The event could not be created.";
    error.hidden = false;
    return;
  }
  dialog.close();
  say(`“${result.data.title}” was created.`, "success");
  calendar.refetchEvents();
  el.focus();
});

// --- calendars on and off, remembered on the server ------------------------------------------------------------

document.querySelectorAll("[data-calendar]").forEach(function (box) {
  box.addEventListener("change", async function () {
    const result = await send(el.dataset.visibility, { calendar: Number(box.dataset.calendar), shown: box.checked });
    if (!result.ok) { box.checked = !box.checked; say(result.data.error); return; }
    calendar.refetchEvents();
  });
});

document.getElementById("grid-date").addEventListener("change", function (event) {
  if (event.target.value) calendar.gotoDate(event.target.value);
});

// --- keyboard ----------------------------------------------------------------------------------------------------

el.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, select, textarea, button")) return;
  const key = event.key.toLowerCase();
  if (event.key === "ArrowLeft") calendar.prev();
  else if (event.key === "ArrowRight") calendar.next();
  else if (key === "t") calendar.today();
  else if (key === "n") newEventNow();
  else if (VIEWS[key]) calendar.changeView(VIEWS[key]);
  else return;
  event.preventDefault();
});

calendar.render();
