// Pages that watch the system (the operators' page) reload themselves every few
// seconds, unless the reader has opened a <details> or selected text meanwhile.
(function () {
  var every = Number(document.currentScript.dataset.every || 5) * 1000;
  setInterval(function () {
    if (document.querySelector("details[open]")) return;
    if (String(window.getSelection())) return;
    location.reload();
  }, every);
})();
