// Small progressive enhancements; every page works without this file.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
    var label = button.getAttribute("data-copied") || "✓";
    var previous = button.textContent;
    button.textContent = label;
    setTimeout(function () { button.textContent = previous; }, 1500);
  });
});

// Invoice countdown: the server renders the seconds left; this ticks them down until the next render.
// It counts to a deadline fixed when the countdown arrives (page load or an htmx swap), not tick by
// tick: a background tab's timers are throttled, and an unchanged poll (204) does not re-render it.
function fixDeadlines(root) {
  root.querySelectorAll("[data-expires-in]:not([data-deadline])").forEach(function (el) {
    var given = parseInt(el.getAttribute("data-expires-in"), 10);
    if (!isNaN(given)) el.setAttribute("data-deadline", String(Date.now() + given * 1000));
  });
}
document.addEventListener("DOMContentLoaded", function () { fixDeadlines(document); });
document.addEventListener("htmx:load", function (event) { fixDeadlines(event.target); });
setInterval(function () {
  fixDeadlines(document);
  document.querySelectorAll("[data-deadline]").forEach(function (el) {
    var left = Math.max(0, Math.round((parseInt(el.getAttribute("data-deadline"), 10) - Date.now()) / 1000));
    el.setAttribute("data-expires-in", String(left));
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = el.textContent.replace(/\d+(\D+)\d{2}(\D*)$/, m + "$1" + (s < 10 ? "0" + s : s) + "$2");
    if (left < parseInt(el.getAttribute("data-urgent-below"), 10)) el.classList.add("urgent");
  });
}, 1000);

// A button with data-confirm asks before its form is sent (without JS the form simply posts).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopPropagation();  // capture phase: htmx's boosted submit never sees it
  }
}, true);

// Pushed invoice status (app/web/push): a section with data-push listens on an EventSource.  While it is
// open the section's own poll is skipped; the server's one event ("changed", or "gone" for a session that
// ended) closes it and asks for the fragment the usual way, whose new section listens again.  When the
// connection drops, or was never possible, the poll runs as it always did: the page is never staler than
// the poll interval.
(function () {
  if (!window.EventSource) return;
  var sources = new WeakMap();
  function listen(section) {
    if (sources.has(section)) return;
    var source = new EventSource(section.getAttribute("data-push"), { withCredentials: true });
    sources.set(section, source);
    source.onopen = function () { section.setAttribute("data-push-live", ""); };
    source.onerror = function () { section.removeAttribute("data-push-live"); };  // it retries by itself
    function told() {
      source.close();
      sources.delete(section);
      section.removeAttribute("data-push-live");
      if (window.htmx) htmx.trigger(section, "pushed");
    }
    source.addEventListener("changed", told);
    source.addEventListener("gone", told);
  }
  function listenIn(root) {
    if (root.matches && root.matches("[data-push]")) listen(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-push]").forEach(listen);
  }
  document.addEventListener("DOMContentLoaded", function () { listenIn(document); });
  document.addEventListener("htmx:load", function (event) { listenIn(event.target); });
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var source = sources.get(event.target);
    if (source) source.close();
  });
  // a section that asked after a push and was told nothing changed (204) stays: it listens again
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.hasAttribute && elt.hasAttribute("data-push") && document.body.contains(elt)) listen(elt);
  });
  // the poll (no triggering event) of a section whose push connection is open: not needed
  document.addEventListener("htmx:confirm", function (event) {
    if (event.detail.elt.hasAttribute("data-push-live") && !event.detail.triggeringEvent) event.preventDefault();
  });
})();
