// Shows each <time data-local> in the visitor's own time zone. The page is written in
// UTC (common/dates.py), which is what visitors without JavaScript keep; the UTC text
// stays in the title. Pages that add times later call window.localTimes(root) again.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      var at = new Date(iso);
      if (isNaN(at) || el.dataset.localised === iso) return;
      el.title = el.textContent;
      el.textContent = format.format(at);
      el.dataset.localised = iso;
    });
  }
  window.localTimes = localTimes;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localTimes(); });
  } else {
    localTimes();
  }
})();
