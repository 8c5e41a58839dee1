// The dashboard's progressive enhancements. Every page works without this
// script: deletions then ask on a second page, the project switcher has a Go
// button, and IDs stay selectable text. The Content-Security-Policy allows
// only this file, so nothing here is inline in the pages.
"use strict";

document.documentElement.classList.add("js");

/** A deletion form asks in a dialog, and says it was confirmed (no second page). */
function confirmDeletions() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      const confirmed = form.querySelector('input[name="confirmed"]');
      if (confirmed) confirmed.value = "yes";
    });
  }
}

/** The project switcher opens the project as soon as one is picked. */
function autosubmitSelects() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
}

/** Copy buttons put their text on the clipboard. */
function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select the text to copy";
      }
      setTimeout(() => {
        button.textContent = label;
      }, 1500);
    });
  }
}

/** A popover form focuses its first field when it opens and closes on a click elsewhere. */
function popovers() {
  const all = document.querySelectorAll("details.popover");
  for (const details of all) {
    details.addEventListener("toggle", () => {
      if (details.open) details.querySelector("input:not([type=hidden])")?.focus();
    });
  }
  document.addEventListener("click", (event) => {
    for (const details of all) {
      if (details.open && !details.contains(event.target)) details.open = false;
    }
  });
}

/**
 * A JSON box (`textarea[data-json]`) is marked invalid while its text does not
 * parse, and the browser then refuses to submit the form with the parser's
 * message. The server checks it again; an empty box is allowed (it clears).
 */
function jsonBoxes() {
  for (const box of document.querySelectorAll("textarea[data-json]")) {
    const check = () => {
      let problem = "";
      if (box.value.trim() !== "") {
        try {
          JSON.parse(box.value);
        } catch (error) {
          problem = `Not valid JSON: ${error.message}`;
        }
      }
      box.setCustomValidity(problem);
      box.classList.toggle("invalid", problem !== "");
    };
    box.addEventListener("input", check);
    check();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  confirmDeletions();
  autosubmitSelects();
  copyButtons();
  popovers();
  jsonBoxes();
});
