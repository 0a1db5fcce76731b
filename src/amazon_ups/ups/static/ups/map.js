// Draws maps of the grid in SVG. Plain JS, no build. window.upsMap.draw(svg, data)
// draws {warehouses, trucks, packages, areas} into an <svg> holding the layers
// <g data-layer="grid|areas|warehouses|packages|trucks">; the live map (an <svg
// data-source>) polls its /map.json every second (common/live.js), and a package's
// page draws its own small map from its status.json.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = {
    "idle": "#8a8178",
    "traveling": "#1d5fa8",
    "arrive warehouse": "#7b3fa0",
    "loading": "#d98a00",
    "delivering": "#23723a"
  };
  document.querySelectorAll("[data-truck-status]").forEach(function (swatch) {
    swatch.style.background = COLOURS[swatch.getAttribute("data-truck-status")] || "#000";
  });

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The box only grows (kept on the svg), so the map does not jump as trucks move.
  function fit(svg, points) {
    var box = svg._box || null;
    points.forEach(function (p) {
      if (!box) box = { x0: p.x, x1: p.x, y0: p.y, y1: p.y };
      box.x0 = Math.min(box.x0, p.x); box.x1 = Math.max(box.x1, p.x);
      box.y0 = Math.min(box.y0, p.y); box.y1 = Math.max(box.y1, p.y);
    });
    if (!box) box = { x0: -10, x1: 10, y0: -10, y1: 10 };
    svg._box = box;
    var size = Math.max(box.x1 - box.x0, box.y1 - box.y0, 10);
    var pad = size * 0.08;
    var cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
    return { x: cx - size / 2 - pad, y: -(cy + size / 2 + pad), size: size + 2 * pad };
  }

  function layer(svg, name) {
    var group = svg.querySelector('[data-layer="' + name + '"]');
    if (group) group.replaceChildren();
    return group || el("g", {});
  }

  function draw(svg, data) {
    var areas = data.areas || [];
    var corners = [];
    areas.forEach(function (a) {
      corners.push({ x: a.x, y: a.y }, { x: a.x + a.size, y: a.y + a.size });
    });
    var view = fit(svg, [].concat(data.warehouses, data.trucks, data.packages, corners));
    svg.setAttribute("viewBox", [view.x, view.y, view.size, view.size].join(" "));
    var unit = view.size / 100; // marks keep their size on screen whatever the scale
    var grid = layer(svg, "grid");
    grid.appendChild(el("rect", { x: view.x, y: view.y, width: view.size, height: view.size, fill: "#fbfaf7" }));
    grid.appendChild(el("line", { x1: view.x, x2: view.x + view.size, y1: 0, y2: 0, stroke: "#e4ddd3", "stroke-width": unit / 3 }));
    grid.appendChild(el("line", { y1: view.y, y2: view.y + view.size, x1: 0, x2: 0, stroke: "#e4ddd3", "stroke-width": unit / 3 }));

    var squares = layer(svg, "areas");
    areas.forEach(function (a) {
      var g = el("g", { "class": "area", "data-x": a.x, "data-y": a.y });
      // The square x..x+size-1, y..y+size-1 of the grid, drawn over its whole cells.
      g.appendChild(el("rect", { x: a.x, y: -(a.y + a.size), width: a.size, height: a.size, fill: "rgba(168,35,27,.15)", stroke: "#a8231b", "stroke-width": unit / 2, "stroke-dasharray": unit + " " + unit }));
      g.appendChild(el("title", {}, "Delivery area: x " + a.x + " to " + (a.x + a.size - 1) + ", y " + a.y + " to " + (a.y + a.size - 1)));
      squares.appendChild(g);
    });

    var warehouses = layer(svg, "warehouses");
    data.warehouses.forEach(function (w) {
      var g = el("g", { "class": "warehouse", "data-warehouse": w.id });
      g.appendChild(el("rect", { x: w.x - 1.6 * unit, y: -w.y - 1.6 * unit, width: 3.2 * unit, height: 3.2 * unit, fill: "#4b2e14", rx: unit / 3 }));
      g.appendChild(el("text", { x: w.x + 2.2 * unit, y: -w.y + unit, "font-size": 3 * unit, fill: "#4b2e14" }, "W" + w.id));
      g.appendChild(el("title", {}, "Warehouse " + w.id + " (" + w.x + ", " + w.y + ")"));
      warehouses.appendChild(g);
    });

    var packages = layer(svg, "packages");
    data.packages.forEach(function (p) {
      var g = el("g", { "class": "package", "data-package": p.tracking_number, "data-status": p.status });
      var r = 1.3 * unit;
      g.appendChild(el("circle", { cx: p.x, cy: -p.y, r: r, fill: p.status === "delivered" ? "#dcf1e1" : "#fff", stroke: "#a8231b", "stroke-width": unit / 2 }));
      g.appendChild(el("title", {}, "Package " + p.tracking_number + ": " + p.status + ", to (" + p.x + ", " + p.y + ")"));
      packages.appendChild(g);
    });

    var trucks = layer(svg, "trucks");
    data.trucks.forEach(function (t) {
      var g = el("g", { "class": "truck", "data-truck": t.id, "data-status": t.status, "data-x": t.x, "data-y": t.y });
      g.appendChild(el("circle", { cx: t.x, cy: -t.y, r: 2 * unit, fill: COLOURS[t.status] || "#000", stroke: "#fff", "stroke-width": unit / 3 }));
      g.appendChild(el("text", { x: t.x, y: -t.y + unit, "font-size": 2.4 * unit, "text-anchor": "middle", fill: "#fff" }, String(t.id)));
      g.appendChild(el("title", {}, "Truck " + t.id + ": " + t.label + " at (" + t.x + ", " + t.y + ")"));
      trucks.appendChild(g);
    });

    var summary = svg.querySelector("desc");
    if (summary) {
      var busy = data.trucks.filter(function (t) { return t.status !== "idle"; }).length;
      summary.textContent =
        data.trucks.length + " trucks (" + busy + " busy), " + data.warehouses.length +
        " warehouses, " + data.packages.length + " packages shown";
    }
  }
  window.upsMap = { draw: draw };

  var live = document.querySelector("svg[data-source]");
  if (!live || !window.livePoll) return;
  var status = document.getElementById("map-status");
  window.livePoll({
    url: live.getAttribute("data-source"),
    every: 1000,
    first: 0,
    render: function (data) {
      draw(live, data);
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
    },
    failed: function () {
      if (status) status.textContent = "Cannot reach the server; retrying…";
    },
  });
})();
