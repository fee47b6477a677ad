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
// It counts to a deadline fixed when the element first ticks, not tick by tick: a background tab's
// timers are throttled, and an unchanged poll (204) no longer re-renders the countdown.
setInterval(function () {
  document.querySelectorAll("[data-expires-in]").forEach(function (el) {
    if (!el.hasAttribute("data-deadline")) {
      var given = parseInt(el.getAttribute("data-expires-in"), 10);
      if (isNaN(given)) return;
      el.setAttribute("data-deadline", String(Date.now() + given * 1000));
    }
    var left = Math.max(0, Math.round((parseInt(el.getAttribute("data-deadline"), 10) - Date.now()) / 1000));
    el.setAttribute("data-expires-in", String(left));
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = el.textContent.replace(/\d+(\D+)\d{2}(\D*)$/, m + "$1" + (s < 10 ? "0" + s : s) + "$2");
    if (left < 180) el.classList.add("urgent");
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
