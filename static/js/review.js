// The Noisy labels page and the review screen, keyboard first (the judging page's way: every key is on screen, `?`
// lists them). Actions are the form's own buttons, so the screen works without this script; the server answers
// each action with the next flag.
(function () {
  "use strict";

  const typing = (target) =>
    target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && !["radio", "checkbox", "submit", "button"].includes(target.type)));

  // -- the list: Enter opens the first flagged judgment ------------------------------------------------------------
  const list = document.querySelector(".flags-table");
  const review = document.getElementById("review");
  if (list && !review) {
    document.addEventListener("keydown", (event) => {
      if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Enter" && event.target === document.body) {
        const first = list.querySelector("tbody a");
        if (first) { event.preventDefault(); window.location.assign(first.href); }
      }
    });
    return;
  }
  if (!review) return;

  const form = document.getElementById("review-form");
  const keymap = document.getElementById("keymap");
  const correctPanel = form.querySelector(".correct-panel");
  const requeuePanel = form.querySelector(".requeue-panel");
  const pair = form.dataset.pair === "1";
  let mode = ""; // "", "correct" or "requeue": which panel Enter confirms

  function button(action) {
    return form.querySelector(`button[type=submit][data-action="${action}"]`);
  }

  function act(action) {
    const submitter = button(action);
    if (!submitter) return;
    if (action === "correct" && pair && !form.querySelector("input[name=choice]:checked")) {
      open("correct");
      return;
    }
    form.requestSubmit(submitter);
  }

  function open(which) {
    mode = which;
    correctPanel.classList.toggle("open", which === "correct");
    requeuePanel.classList.toggle("open", which === "requeue");
    if (which === "correct") {
      const text = form.querySelector("input[type=text][name=ordering]");
      if (text) text.focus();
      else correctPanel.scrollIntoView({ block: "nearest" });
    }
    if (which === "requeue") {
      const number = form.elements.annotators;
      number.focus();
      number.select();
    }
  }

  function close() {
    mode = "";
    correctPanel.classList.remove("open");
    requeuePanel.classList.remove("open");
  }

  function undo() {
    const last = document.getElementById("undo-last");
    const undoButton = last && last.querySelector("button[data-action=undo]");
    if (undoButton) last.requestSubmit(undoButton);
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (keymap.open && event.key !== "?" && event.key !== "Escape") return;
    if (typing(target)) {
      if (event.key === "Escape") {
        event.preventDefault();
        target.blur();
        if (target.name !== "note") close();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        act(mode || "keep");
      } else if (event.key === "Enter" && target.tagName === "INPUT") {
        event.preventDefault(); // Enter in a panel's field confirms that panel, never "keep"
        act(mode || (target.name === "annotators" ? "requeue" : "correct"));
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === "?") { event.preventDefault(); keymap.open ? keymap.close() : keymap.showModal(); return; }
    if (key === "Escape") { close(); return; }
    if (key === "Enter") {
      if (target && (target.tagName === "BUTTON" || target.tagName === "A")) return; // a focused control acts itself
      if (mode) { event.preventDefault(); act(mode); }
      return;
    }
    if (mode === "correct" && pair && ["1", "2", "3"].includes(key)) {
      const value = { 1: "A", 2: "B", 3: "tie" }[key];
      const input = form.querySelector(`input[name=choice][value="${value}"]`);
      if (input) { event.preventDefault(); input.checked = true; }
      return;
    }
    const actions = { k: () => act("keep"), x: () => act("exclude"), c: () => open("correct"), r: () => open("requeue"),
      u: undo, n: () => form.elements.note.focus(),
      j: () => { if (review.dataset.nextUrl) window.location.assign(review.dataset.nextUrl); },
      l: () => window.location.assign(review.dataset.listUrl) };
    if (actions[key]) { event.preventDefault(); actions[key](); }
  });

  review.addEventListener("click", (event) => {
    const control = event.target.closest("[data-action]");
    if (!control) return;
    const action = control.dataset.action;
    if (action === "keymap") keymap.showModal();
    if (action === "open-correct") open("correct");
    if (action === "open-requeue") open("requeue");
  });
  // A choice picked with the mouse opens the correct panel's mode too, so Enter saves it.
  correctPanel.addEventListener("change", () => { mode = "correct"; correctPanel.classList.add("open"); });
})();
