// Keeps the order page up to date: polls the order's status.json (common/live.js) and
// rewrites the parts that change. Text goes in with textContent only, never as HTML.
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root || !root.dataset.statusUrl) return;
  var EVERY_MS = 1500;

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element && element.textContent !== String(text)) element.textContent = text;
  }

  function show(id, visible) {
    var element = document.getElementById(id);
    if (element) element.hidden = !visible;
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function render(data) {
    var status = document.getElementById("order-status");
    if (status) {
      status.dataset.status = data.status;
      setText("order-status", data.status);
    }
    show("order-waiting", data.waiting_for_stock);
    setText("order-failure", data.failure);
    show("order-failure", !!data.failure);
    show("order-failure-label", !!data.failure);
    setText("tracking-number", data.tracking_number || "");
    show("tracking-pending", !data.tracking_number);
    var link = document.getElementById("tracking-link");
    if (link && data.tracking_url && link.getAttribute("href") !== data.tracking_url) {
      link.setAttribute("href", data.tracking_url);
    }
    setText("dest-label", data.status === "delivered" ? "Delivered at" : "Destination");
    setText("dest-x", data.destination.x);
    setText("dest-y", data.destination.y);

    var account = document.getElementById("ups-account-status");
    if (account && data.ups_account) {
      account.dataset.state = data.ups_account.state;
      setText("ups-account-status", data.ups_account.text);
    }

    window.liveSteps(document.getElementById("order-steps"), data.steps);

    var body = document.querySelector("#order-events tbody");
    if (body && body.rows.length !== data.events.length) {
      var rows = document.createDocumentFragment();
      data.events.forEach(function (event) {
        var row = document.createElement("tr");
        row.dataset.status = event.status;
        var when = document.createElement("td");
        var time = document.createElement("time");
        time.setAttribute("datetime", event.at);
        time.setAttribute("data-local", "");
        time.textContent = event.at_text;
        when.appendChild(time);
        row.appendChild(when);
        row.appendChild(cell(event.status));
        row.appendChild(cell(event.note));
        rows.appendChild(row);
      });
      body.replaceChildren(rows);
    }
    if (window.localTimes) window.localTimes(root);
  }

  function settled(data) {
    var checking = data.ups_account && data.ups_account.state === "checking";
    return data.final && !checking;
  }

  if (root.hasAttribute("data-final")) return;
  window.livePoll({
    url: root.dataset.statusUrl,
    every: EVERY_MS,
    render: function (data) {
      render(data);
      if (settled(data)) setText("live-note", "");
    },
    settled: settled,
  });
})();
