// The judging page: keyboard-first, with the next item fetched ahead of time.
//
// #current holds the item being judged, #prefetch the next one (already leased by the server). Submit and skip
// show the prefetched item at once and send the answer in the background; if the server refuses it, the refused
// item comes back with the reason. Every key is shown on screen; `?` lists them.
(function () {
  "use strict";

  const root = document.getElementById("annotate");
  if (!root) return;
  const current = document.getElementById("current");
  const prefetch = document.getElementById("prefetch");
  const flash = document.getElementById("flash");
  const keymap = document.getElementById("keymap");
  const guidelines = document.getElementById("guidelines");
  const csrf = () => (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const STRENGTH_KEYS = ["z", "x", "c", "v", "b"];
  let prefetching = null; // the pending prefetch request, so submit can wait on it when it is slow
  let busy = false; // one undo at a time
  const pending = new Set(); // answers on their way: the prefetch must not hand those items out again

  const item = () => current.querySelector(".item");
  const itemForm = () => current.querySelector("form.item");

  // One timer for the notice: a timer left from an earlier, identical notice ("Saved." twice in a row) must not
  // clear the new one at once.
  let flashTimer = 0;
  function say(message, kind) {
    clearTimeout(flashTimer);
    flash.textContent = message;
    flash.className = "flash " + (kind || "");
    if (message) flashTimer = setTimeout(() => { flash.textContent = ""; flash.className = "flash"; }, 5000);
  }

  // -- showing an item ----------------------------------------------------------------------------------------
  function activate() {
    const form = itemForm();
    const node = item();
    if (!node) return;
    node.dataset.shownAt = String(performance.now());
    if (form) {
      if (!form.elements.client_token.value) form.elements.client_token.value = newToken();
      if (form.dataset.kind === "listwise") setUpList(form);
    }
    node.focus({ preventScroll: false }); // focus stays in the item after every swap
    window.scrollTo({ top: 0 });
  }

  function newToken() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function shownIds() {
    return [...root.querySelectorAll("form.item")].map((form) => form.dataset.assignment).concat([...pending]);
  }

  let prefetchGeneration = 0;

  function fillPrefetch() {
    // Only the latest request may fill the slot: an older one may carry an item that is on screen by now.
    const generation = ++prefetchGeneration;
    const params = new URLSearchParams();
    shownIds().forEach((id) => params.append("exclude", id));
    const request = fetch(root.dataset.nextUrl + "?" + params.toString(), { headers: { "HX-Request": "true" } })
      .then((response) => (response.ok ? response.text() : Promise.reject(new Error(response.statusText))))
      .then((html) => {
        if (generation !== prefetchGeneration) return;
        const holder = document.createElement("template");
        holder.innerHTML = html;
        const form = holder.content.querySelector("form.item");
        const inUse = form && shownIds().includes(form.dataset.assignment);
        prefetch.replaceChildren(...(inUse ? [] : holder.content.childNodes));
      })
      .catch(() => {
        if (generation === prefetchGeneration) prefetch.replaceChildren();
      })
      .finally(() => {
        if (prefetching === request) prefetching = null;
      });
    prefetching = request;
    return request;
  }

  // The prefetched item becomes current; returns the item that was current.
  async function advance() {
    const previous = current.firstElementChild;
    if (!prefetch.firstElementChild && prefetching) await prefetching;
    if (!prefetch.firstElementChild) await fillPrefetch();
    current.replaceChildren(...prefetch.childNodes);
    activate();
    return previous;
  }

  function updateProgress(progress) {
    if (!progress) return;
    const box = document.getElementById("progress");
    for (const [field, value] of Object.entries(progress)) {
      const node = box.querySelector(`[data-field="${field}"]`);
      if (node) node.textContent = value;
    }
    box.querySelector(".bar").style.width = progress.percent + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", progress.percent);
  }

  // -- answering --------------------------------------------------------------------------------------------------
  function showError(form, message) {
    const box = form.querySelector(".item-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function readyToSubmit(form) {
    if (form.dataset.kind === "pairwise" && !form.querySelector("input[name=choice]:checked")) {
      return "Choose an answer first: 1 for A, 2 for B" + (form.querySelector("input[value=tie]") ? ", 3 for a tie." : ".");
    }
    // A list shown in a random order is not a ranking until the annotator acts on it: Enter on an untouched list
    // asks first (o keeps the shown order on purpose), as a pair asks for a choice.
    if (form.dataset.kind === "listwise" && form.dataset.touched !== "1") {
      return "Rank the responses first: drag them, or press a number and move it with ↑ ↓. " +
        "If the shown order is already your ranking, press o to keep it.";
    }
    const rationale = form.elements.rationale;
    if (form.dataset.rationale === "required" && rationale && !rationale.value.trim()) {
      return "This project asks for a rationale: press r and write one.";
    }
    return "";
  }

  async function send(form, url) {
    const response = await fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json", "X-CSRFToken": csrf() },
    });
    let body = {};
    try { body = await response.json(); } catch (error) { body = {}; }
    if (!response.ok) throw new Error((body.error && body.error.message) || `The server answered ${response.status}.`);
    return body;
  }

  async function submitOrSkip(action) {
    const form = itemForm();
    if (!form) return;
    if (action === "submit") {
      const problem = readyToSubmit(form);
      showError(form, problem);
      if (problem) return;
      if (form.dataset.kind === "listwise") form.elements.ranking.value = JSON.stringify(readRanking(form));
    }
    const shownAt = Number(item().dataset.shownAt || performance.now());
    form.elements.duration_ms.value = String(Math.max(0, Math.round(performance.now() - shownAt)));
    const url = action === "submit" ? form.action : form.dataset.skipUrl;
    const id = form.dataset.assignment;
    pending.add(id);
    root.dataset.pending = String(pending.size); // "0" once every answer has been stored (or refused)
    const sent = send(form, url).finally(() => {
      pending.delete(id);
      root.dataset.pending = String(pending.size);
    });
    const previous = await advance(); // the next item is on screen before the server has answered
    try {
      const body = await sent;
      updateProgress(body.progress);
      say(action === "submit" ? "Saved. Press u to undo." : "Skipped.", "ok");
      if (!prefetch.firstElementChild && !prefetching) fillPrefetch();
    } catch (error) {
      // Put the refused item back in front, with the reason; the item shown meanwhile waits in the prefetch slot.
      prefetch.replaceChildren(...current.childNodes);
      current.replaceChildren(previous);
      activate();
      const back = itemForm();
      if (back) showError(back, error.message);
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const body = new FormData();
      const response = await fetch(root.dataset.undoUrl, {
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRFToken": csrf() },
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        say((data.error && data.error.message) || "Nothing to undo.", "error");
        return;
      }
      // The undone item comes back in front; the one on screen becomes the next one.
      const node = current.querySelector(".item");
      if (node && node.matches("form.item")) prefetch.replaceChildren(...current.childNodes);
      current.innerHTML = data.html;
      activate();
      updateProgress(data.progress);
      say("Your last answer was taken back; judge it again.", "ok");
    } finally {
      busy = false;
    }
  }

  // -- listwise ---------------------------------------------------------------------------------------------------
  function setUpList(form) {
    const list = form.querySelector(".ranking");
    renumber(list);
    if (window.Sortable && !list.dataset.sortable) {
      list.dataset.sortable = "1";
      // forceFallback: mouse-event dragging that behaves the same in every browser and in headless tests.
      window.Sortable.create(list, {
        filter: ".tie-toggle",
        preventOnFilter: false,
        animation: 120,
        forceFallback: true,
        onEnd: (event) => {
          if (event.oldIndex !== event.newIndex) touch(form);
          renumber(list);
          event.item.focus();
        },
      });
    }
  }

  function touch(form) {
    if (!form) return;
    form.dataset.touched = "1";
    showError(form, "");
  }

  function keepShownOrder(form) {
    touch(form);
    const button = form.querySelector("[data-action=keep-order]");
    if (button) button.setAttribute("aria-pressed", "true");
  }

  function renumber(list) {
    let rank = 0;
    [...list.children].forEach((li, index) => {
      if (index === 0) li.dataset.tied = "0";
      if (li.dataset.tied !== "1") rank += 1;
      li.querySelector(".rank-no").textContent = String(rank);
      const toggle = li.querySelector(".tie-toggle");
      if (toggle) {
        toggle.setAttribute("aria-pressed", li.dataset.tied === "1" ? "true" : "false");
        toggle.disabled = index === 0;
      }
      li.classList.toggle("tied", li.dataset.tied === "1");
    });
  }

  function readRanking(form) {
    const groups = [];
    form.querySelectorAll(".ranking > .rank-item").forEach((li) => {
      const id = li.dataset.response; // the per-assignment token the server gave this response, never its id
      if (li.dataset.tied === "1" && groups.length) groups[groups.length - 1].push(id);
      else groups.push([id]);
    });
    return groups;
  }

  function focusedRankItem() {
    const active = document.activeElement;
    return active && active.closest ? active.closest(".rank-item") : null;
  }

  function moveRankItem(li, direction) {
    const list = li.parentElement;
    if (direction < 0 && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
    if (direction > 0 && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
    touch(li.closest("form.item"));
    renumber(list);
    li.focus();
  }

  function toggleTie(li) {
    if (!li || !li.previousElementSibling) return;
    li.dataset.tied = li.dataset.tied === "1" ? "0" : "1";
    touch(li.closest("form.item"));
    renumber(li.parentElement);
    li.focus();
  }

  // -- keys -------------------------------------------------------------------------------------------------------
  function pick(form, name, value) {
    const input = form.querySelector(`input[name="${name}"][value="${value}"]`);
    if (input) {
      input.checked = true;
      showError(form, "");
    }
  }

  document.addEventListener("keydown", (event) => {
    const form = itemForm();
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" && target.type === "text" || target.tagName === "SELECT");
    if (keymap.open && event.key !== "?" && event.key !== "Escape") return;
    if (typing) {
      if (event.key === "Escape") {
        event.preventDefault();
        (item() || document.body).focus();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submitOrSkip("submit");
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      keymap.open ? keymap.close() : keymap.showModal();
      return;
    }
    if (key === "g") { guidelines.open = !guidelines.open; return; }
    if (key === "u") { event.preventDefault(); undo(); return; }
    if (!form) return;
    if (key === "Enter") {
      if (target && target.tagName === "BUTTON" && target.dataset.action !== "submit") return; // a focused button acts itself
      event.preventDefault();
      submitOrSkip("submit");
      return;
    }
    if (key === "s") { event.preventDefault(); submitOrSkip("skip"); return; }
    if (key === "r" && form.elements.rationale) { event.preventDefault(); form.elements.rationale.focus(); return; }
    if (key === "k") {
      const first = form.querySelector(".criteria select");
      if (first) { event.preventDefault(); first.focus(); }
      return;
    }
    if (form.dataset.kind === "pairwise") {
      const choice = { 1: "A", 2: "B", 3: "tie", 4: "both_bad" }[key];
      if (choice) { event.preventDefault(); pick(form, "choice", choice); return; }
      const level = STRENGTH_KEYS.indexOf(key);
      if (level >= 0) { event.preventDefault(); pick(form, "strength", String(level)); }
      return;
    }
    // listwise
    if (key === "o") { event.preventDefault(); keepShownOrder(form); return; }
    if (/^[1-9]$/.test(key)) {
      const li = form.querySelector(`.rank-item[data-label="${key}"]`);
      if (li) { event.preventDefault(); li.focus(); }
      return;
    }
    const li = focusedRankItem();
    if (!li) return;
    if (key === "ArrowUp" || key === "ArrowDown") {
      event.preventDefault();
      moveRankItem(li, key === "ArrowUp" ? -1 : 1);
    } else if (key === "t") {
      event.preventDefault();
      toggleTie(li);
    }
  });

  // Buttons and clicks do what their keys do (the form still works without this script).
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "keymap") { keymap.showModal(); return; }
    if (action === "guidelines") { guidelines.open = !guidelines.open; return; }
    if (action === "tie") { event.preventDefault(); toggleTie(button.closest(".rank-item")); return; }
    if (action === "keep-order") { event.preventDefault(); keepShownOrder(button.closest("form.item")); return; }
    if (action === "submit" || action === "skip") { event.preventDefault(); submitOrSkip(action); return; }
    if (action === "undo" || action === "undo-empty") { event.preventDefault(); undo(); }
  });
  root.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest("form.item");
    if (form && event.target.name === "choice") showError(form, "");
  });

  root.dataset.pending = "0";
  activate();
  fillPrefetch();
})();
