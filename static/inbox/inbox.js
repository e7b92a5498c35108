// The inbox page: what htmx cannot do alone — adaptive polling, keyboard navigation in the
// list, Enter to send, and the ETA countdown. Plain JavaScript, no build.
(function () {
  "use strict";

  const FAST_MS = 2500;   // visible, and one of our messages is on its way
  const IDLE_MS = 10000;  // visible, nothing in flight
  const HIDDEN_MS = 30000;
  const IN_FLIGHT = '[data-status="pending"], [data-status="queued"], [data-status="sending"]';

  const main = () => document.getElementById("main");

  // --- Live updates: poll a small fragment; 204 means nothing changed -------------------------
  let timer = null;
  let polling = false;

  function pollParams() {
    const params = new URLSearchParams();
    const filters = document.getElementById("list-filters");
    if (filters) {
      for (const [name, value] of new FormData(filters)) {
        if (value) params.set(name, value);
      }
    }
    const conversation = document.getElementById("conversation");
    if (conversation) {
      params.set("conversation", conversation.dataset.conversationId);
      const ids = Array.from(conversation.querySelectorAll(".message[data-message-id]"), (el) => Number(el.dataset.messageId));
      params.set("after", String(ids.length ? Math.max(...ids) : 0));
      const watch = Array.from(conversation.querySelectorAll(".message" + IN_FLIGHT.replaceAll(", ", ", .message")), (el) => el.dataset.messageId);
      if (watch.length) params.set("watch", watch.join(","));
    }
    params.set("version", main().dataset.version || "");
    return params;
  }

  function nextDelay() {
    if (document.hidden) return HIDDEN_MS;
    return document.querySelector(IN_FLIGHT) ? FAST_MS : IDLE_MS;
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay === undefined ? nextDelay() : delay);
  }

  let focusAfterPoll = null;
  let pollXhr = null;  // the poll in flight: only its own end restarts the loop

  document.addEventListener("htmx:beforeSend", (event) => {
    if (event.detail.elt === main()) pollXhr = event.detail.xhr;
  });

  function poll() {
    if (polling || !main()) return schedule();
    polling = true;
    const focused = document.activeElement && document.activeElement.closest(".conversation-item");
    focusAfterPoll = focused ? focused.id : null;
    htmx.ajax("GET", main().dataset.pollUrl + "?" + pollParams().toString(), { source: main(), target: "#main", swap: "none" });
    // Whatever happens to that request, the loop goes on.
    timer = setTimeout(() => { polling = false; schedule(); }, 20000);
  }

  function pollFinished() {
    // Only focus that the swap took away (the focused row was replaced): never steal it back
    // from wherever the user has moved it since.
    const lost = !document.activeElement || document.activeElement === document.body;
    if (focusAfterPoll && lost) {
      const link = document.querySelector("#" + focusAfterPoll + " .conversation-link");
      if (link) link.focus();
    }
    focusAfterPoll = null;
    polling = false;
    schedule();
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const version = event.detail.xhr && event.detail.xhr.getResponseHeader("X-Inbox-Version");
    if (version && main()) main().dataset.version = version;
    if (event.detail.elt === main() && event.detail.xhr === pollXhr) {
      pollXhr = null;
      // After the swaps of this answer (htmx settles on the next frames).
      setTimeout(pollFinished, 50);
    }
  });
  // Any other request (a search, a send, a cancel…) makes an answer still on its way stale:
  // drop it rather than let it swap older state over the fresh one.
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (!polling || !main() || event.detail.elt === main()) return;
    htmx.trigger(main(), "htmx:abort");
    pollXhr = null;
    focusAfterPoll = null;
    polling = false;
    schedule(FAST_MS);
  });
  document.addEventListener("visibilitychange", () => schedule(document.hidden ? HIDDEN_MS : 0));

  // --- After every swap: current row, no duplicate message, thread at the bottom ---------------
  function markCurrent() {
    const conversation = document.getElementById("conversation");
    const current = conversation ? conversation.dataset.conversationId : null;
    document.querySelectorAll(".conversation-item").forEach((item) => {
      const link = item.querySelector(".conversation-link");
      if (item.dataset.conversationId === current) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
  }

  function dedupeMessages() {
    const seen = new Set();
    const items = Array.from(document.querySelectorAll("#thread-messages .message")).reverse();
    for (const item of items) {
      if (seen.has(item.id)) item.remove();
      else seen.add(item.id);
    }
  }

  function scrollThreadToBottom() {
    const scroller = document.getElementById("thread-scroll");
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  document.addEventListener("htmx:afterSettle", (event) => {
    markCurrent();
    dedupeMessages();
    tickEtas();
    const target = event.detail.target;
    if (target && (target.id === "conversation-pane" || target.id === "composer")) scrollThreadToBottom();
    if (target && target.id === "conversation-pane") schedule(0);
    // A message just sent or retried: follow it at the fast pace from now on.
    if (target && !polling && (target.id === "composer" || target.classList.contains("message"))) schedule(FAST_MS);
  });
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "thread-messages") scrollThreadToBottom();
  });

  // --- ETA countdown ---------------------------------------------------------------------------
  function tickEtas() {
    const now = Date.now();
    document.querySelectorAll(".eta[data-eta]").forEach((el) => {
      const seconds = Math.round((Date.parse(el.dataset.eta) - now) / 1000);
      if (seconds <= 0) el.textContent = "sending any moment";
      else if (seconds < 90) el.textContent = "sends in ~" + seconds + " s";
      else el.textContent = "sends in ~" + Math.round(seconds / 60) + " min";
    });
  }

  // --- Keyboard: j/k or arrows move in the list, Enter opens, / searches ----------------------
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]");
  }

  function moveInList(step) {
    const links = Array.from(document.querySelectorAll("#conversation-items .conversation-link"));
    if (!links.length) return;
    const index = links.indexOf(document.activeElement);
    const current = index === -1 ? links.findIndex((l) => l.getAttribute("aria-current") === "true") : index;
    const next = links[Math.min(links.length - 1, Math.max(0, current === -1 ? 0 : current + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.id === "composer-text" && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      const form = target.form;
      if (!form.querySelector("button[type=submit]").disabled && target.value.trim()) form.requestSubmit();
      return;
    }
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const inList = target.closest("#conversation-items") || target === document.body;
    if ((event.key === "ArrowDown" && inList) || event.key === "j") {
      event.preventDefault();
      moveInList(1);
    } else if ((event.key === "ArrowUp" && inList) || event.key === "k") {
      event.preventDefault();
      moveInList(-1);
    } else if (event.key === "/") {
      event.preventDefault();
      document.getElementById("list-search").focus();
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (!main()) return;
    markCurrent();
    scrollThreadToBottom();
    tickEtas();
    setInterval(tickEtas, 1000);
    schedule();
  });
})();
