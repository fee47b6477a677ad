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
