// Keeps a page up to date on both sites: polls a small JSON view and hands each answer
// to the page's render function, until settled(data) says nothing more will change.
// A failed poll (the site restarting) is tried again, less and less often.
//   window.livePoll({ url, every, render, settled, failed })
// and the progress strip both sites draw the same way:
//   window.liveSteps(list, [{ status, label, reached, at, at_text }])
(function () {
  "use strict";
  var MAX_BACKOFF_MS = 15000;

  function livePoll(options) {
    var every = options.every || 1500;
    var delay = every;
    function poll() {
      fetch(options.url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          options.render(data);
          delay = every;
          if (!(options.settled && options.settled(data))) window.setTimeout(poll, delay);
        })
        .catch(function () {
          if (options.failed) options.failed();
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
          window.setTimeout(poll, delay);
        });
    }
    window.setTimeout(poll, options.first === undefined ? every : options.first);
  }
  window.livePoll = livePoll;

  function liveSteps(list, steps) {
    if (!list) return;
    steps.forEach(function (step) {
      var item = list.querySelector('[data-step="' + step.status + '"]');
      if (!item) {
        item = document.createElement("li");
        item.dataset.step = step.status;
        var name = document.createElement("span");
        name.className = "step-name";
        name.textContent = step.label;
        var time = document.createElement("time");
        time.className = "step-time";
        item.appendChild(name);
        item.appendChild(time);
        list.appendChild(item);
      }
      item.className = "step" + (step.reached ? " reached" : "");
      var at = item.querySelector("time");
      // Compared by the ISO value: local-time.js rewrites the text.
      if (at && step.at && at.getAttribute("datetime") !== step.at) {
        at.textContent = step.at_text;
        at.setAttribute("datetime", step.at);
        at.setAttribute("data-local", "");
      }
    });
  }
  window.liveSteps = liveSteps;
})();
