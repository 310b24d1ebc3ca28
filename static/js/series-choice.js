// "This occurrence / this and following / all": asked when a recurring event is changed on the calendar.
// A native <dialog> opened modally: focus moves into it and stays there, Tab and arrow keys move between the
// choices, Enter or Space picks one, Escape or Cancel answers null. No inline script (the site's CSP).

const CHOICES = [
  ["this", "This occurrence", "Only this one changes; the rest of the series stays as it is."],
  ["following", "This and following", "The series ends before this one; a new series starts here with the change."],
  ["all", "All occurrences", "Every occurrence of the series changes."],
];

let counter = 0;

function build(heading) {
  counter += 1;
  const dialog = document.createElement("dialog");
  dialog.className = "series-choice";
  dialog.setAttribute("aria-labelledby", `series-choice-title-${counter}`);
  dialog.setAttribute("aria-describedby", `series-choice-help-${counter}`);
  dialog.dataset.testid = "series-choice";
  const article = document.createElement("article");
  const title = document.createElement("h2");
  title.id = `series-choice-title-${counter}`;
  title.textContent = heading;
  const help = document.createElement("p");
  help.id = `series-choice-help-${counter}`;
  help.textContent = "This event repeats. Which occurrences should change?";
  const list = document.createElement("div");
  list.className = "choices";
  list.setAttribute("role", "group");
  list.setAttribute("aria-label", "Occurrences to change");
  for (const [scope, label, detail] of CHOICES) {
    const button = document.createElement("button");
    button.type = "button";
    button.value = scope;
    button.dataset.scope = scope;
    button.className = scope === "this" ? "" : "secondary outline";
    const name = document.createElement("strong");
    name.textContent = label;
    const note = document.createElement("small");
    note.textContent = detail;
    button.append(name, document.createElement("br"), note);
    list.append(button);
  }
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "contrast outline";
  cancel.dataset.scope = "";
  cancel.textContent = "Cancel";
  const footer = document.createElement("footer");
  footer.append(cancel);
  article.append(title, help, list, footer);
  dialog.append(article);
  return dialog;
}

function arrowKeys(dialog) {
  // Up and down move between the buttons as in a menu; Tab works as everywhere.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const buttons = [...dialog.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    const step = event.key === "ArrowDown" ? 1 : -1;
    buttons[(at + step + buttons.length) % buttons.length].focus();
    event.preventDefault();
  });
}

/**
 * Ask which occurrences a change applies to.
 * @param {{heading?: string}} [options]
 * @returns {Promise<"this"|"following"|"all"|null>} null when the person cancels (Escape, Cancel).
 */
export function chooseScope(options = {}) {
  const dialog = build(options.heading || "Change a repeating event");
  const returnFocus = document.activeElement;
  document.body.append(dialog);
  arrowKeys(dialog);
  return new Promise((resolve) => {
    let answer = null;
    dialog.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      answer = button.dataset.scope || null;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (returnFocus && typeof returnFocus.focus === "function") returnFocus.focus();
      resolve(answer);
    });
    dialog.showModal();
    dialog.querySelector('button[data-scope="this"]').focus();
  });
}
