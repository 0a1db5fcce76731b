// Keeps a package's page (and My packages) up to date without a reload: polls its
// status.json through common/live.js and rewrites the parts that change; the small
// map is drawn by map.js. Text goes in with textContent only, never as HTML.
(function () {
  "use strict";
  var FINAL = { "delivered": true, "failed": true };

  function byId(id) { return document.getElementById(id); }

  function setText(id, text) {
    var element = byId(id);
    if (element && element.textContent !== String(text)) element.textContent = text;
  }

  function show(id, visible) {
    var element = byId(id);
    if (element) element.hidden = !visible;
  }

  function setTime(time, moment) {
    // Compared by the ISO value: local-time.js rewrites the text.
    if (!time || !moment || time.getAttribute("datetime") === moment.at) return;
    time.textContent = moment.text;
    time.setAttribute("datetime", moment.at);
    time.setAttribute("data-local", "");
    delete time.dataset.localised;
  }

  function setStatus(badge, status, label) {
    if (!badge || badge.dataset.status === status) return;
    badge.dataset.status = status;
    badge.className = "package-status status-" + status.replace(/\s+/g, "-");
    badge.textContent = label;
  }

  function renderTimeline(events) {
    var list = document.querySelector("#package ol.timeline");
    if (!list || list.children.length === events.length) return;
    var items = document.createDocumentFragment();
    events.forEach(function (event) {
      var item = document.createElement("li");
      item.className = "event kind-" + event.kind.replace(/\s+/g, "-");
      item.dataset.kind = event.kind;
      var what = document.createElement("span");
      what.className = "what";
      what.textContent = event.what;
      item.appendChild(what);
      item.appendChild(document.createTextNode(" "));
      var time = document.createElement("time");
      setTime(time, event.at);
      item.appendChild(time);
      if (event.detail) {
        var detail = document.createElement("span");
        detail.className = "place";
        detail.textContent = "· " + event.detail;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(detail);
      }
      items.appendChild(item);
    });
    list.replaceChildren(items);
  }

  function renderRedirect(redirect, status) {
    if (!redirect) return;
    show("redirect-section", redirect.can);
    show("redirect-pending", redirect.pending);
    show("redirect-form", !redirect.pending);
    show("redirect-confirmed", redirect.confirmed && !redirect.pending);
    show("redirect-race", status === "out for delivery");
  }

  function renderPackage(root, data) {
    setStatus(root.querySelector(".current [data-package]"), data.status, data.status_label);
    show("estimate", !!data.estimate);
    if (data.estimate) {
      setText("estimate-text", data.estimate.text);
      setText("estimate-by", data.estimate.by);
    }
    show("delivered-when", !!data.delivered);
    setTime(byId("delivered-time"), data.delivered);
    setText("package-failure", data.failure);
    show("package-failure", !!data.failure);
    setText("package-truck", data.truck === null ? "not assigned yet" : data.truck);
    if (data.destination) setText("destination", "(" + data.destination.x + ", " + data.destination.y + ")");
    if (data.delivered_place) {
      setText("delivered-at", "(" + data.delivered_place[0] + ", " + data.delivered_place[1] + ")");
      ["delivered-at", "delivered-at-label"].forEach(function (id) { show(id, true); });
      ["destination", "destination-label"].forEach(function (id) { show(id, false); });
    }
    window.liveSteps(byId("package-steps"), data.steps);
    renderTimeline(data.events);
    renderRedirect(data.redirect, data.status);
    var map = byId("package-map");
    if (map && window.upsMap) window.upsMap.draw(map, data.map);
    if (window.localTimes) window.localTimes(root);
  }

  function settled(data) {
    return data.final && !(data.redirect && data.redirect.pending);
  }

  var root = byId("package");
  if (root && root.dataset.statusUrl) {
    var map = byId("package-map");
    var first = byId("package-map-data");
    if (map && first && window.upsMap) window.upsMap.draw(map, JSON.parse(first.textContent));
    if (!root.hasAttribute("data-final")) {
      window.livePoll({
        url: root.dataset.statusUrl,
        every: 1000,
        render: function (data) {
          renderPackage(root, data);
          if (settled(data)) setText("live-note", "");
        },
        settled: settled,
      });
    }
  }

  // My packages: the status of each package listed.
  var table = byId("my-packages");
  if (table && table.dataset.statusUrl) {
    var badges = table.querySelectorAll("[data-package]");
    var open = Array.prototype.filter.call(badges, function (badge) {
      return !FINAL[badge.dataset.status];
    });
    if (!open.length) return;
    var query = open.map(function (badge) {
      return "n=" + encodeURIComponent(badge.dataset.package);
    }).join("&");
    window.livePoll({
      url: table.dataset.statusUrl + "?" + query,
      every: 2000,
      render: function (data) {
        open.forEach(function (badge) {
          var now = data.packages[badge.dataset.package];
          if (now) setStatus(badge, now.status, now.status_label);
        });
      },
      settled: function () {
        return open.every(function (badge) { return FINAL[badge.dataset.status]; });
      },
    });
  }
})();
