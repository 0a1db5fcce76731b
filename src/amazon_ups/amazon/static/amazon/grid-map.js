// A destination picked on the world's grid: each .grid-map draws the store's warehouses,
// the shopper's saved addresses and the chosen point, and a click fills the x and y
// fields it names (data-x, data-y). Typing in them moves the point. A <select
// data-address-for="MAP-ID"> of saved addresses fills them too. Plain JS, no build.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var WHOLE = /^\s*-?\d+\s*$/;

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A round step giving about 8 grid lines across the view.
  function gridStep(span) {
    var raw = span / 8;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / power;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
  }

  function init(map) {
    if (map.getAttribute("data-ready")) return;
    map.setAttribute("data-ready", "1");
    var xInput = document.getElementById(map.getAttribute("data-x"));
    var yInput = document.getElementById(map.getAttribute("data-y"));
    var svg = map.querySelector("svg");
    if (!xInput || !yInput || !svg) return;
    var saved = document.getElementById("saved-addresses");
    var places = saved ? JSON.parse(saved.textContent) : [];
    var warehouses = [];
    var view = null; // world coordinates: left x, bottom y, side

    function chosen() {
      if (!WHOLE.test(xInput.value) || !WHOLE.test(yInput.value)) return null;
      return { x: parseInt(xInput.value, 10), y: parseInt(yInput.value, 10) };
    }

    function inside(p) {
      return view && p.x >= view.x && p.x <= view.x + view.side && p.y >= view.y && p.y <= view.y + view.side;
    }

    function fit() {
      var points = warehouses.concat(places);
      var point = chosen();
      if (point) points.push(point);
      if (!points.length) points = [{ x: 0, y: 0 }];
      var xs = points.map(function (p) { return p.x; });
      var ys = points.map(function (p) { return p.y; });
      var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
      var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
      var side = Math.max(x1 - x0, y1 - y0, 40);
      var pad = side * 0.15;
      side = Math.ceil(side + 2 * pad);
      view = { x: Math.floor((x0 + x1 - side) / 2), y: Math.floor((y0 + y1 - side) / 2), side: side };
    }

    function draw() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var v = view;
      // SVG's y grows downwards, the world's upwards.
      svg.setAttribute("viewBox", [v.x, -(v.y + v.side), v.side, v.side].join(" "));
      var unit = v.side / 100; // marks keep their size on screen whatever the scale
      svg.appendChild(el("rect", { x: v.x, y: -(v.y + v.side), width: v.side, height: v.side, fill: "#fbfaf7" }));
      var step = gridStep(v.side);
      for (var gx = Math.ceil(v.x / step) * step; gx <= v.x + v.side; gx += step) {
        svg.appendChild(el("line", { x1: gx, x2: gx, y1: -(v.y + v.side), y2: -v.y, stroke: gx === 0 ? "#b9ad9c" : "#e8e1d6", "stroke-width": unit / 3 }));
        svg.appendChild(el("text", { x: gx + unit, y: -v.y - unit, "font-size": 2.6 * unit, fill: "#7a6f62" }, String(gx)));
      }
      for (var gy = Math.ceil(v.y / step) * step; gy <= v.y + v.side; gy += step) {
        svg.appendChild(el("line", { y1: -gy, y2: -gy, x1: v.x, x2: v.x + v.side, stroke: gy === 0 ? "#b9ad9c" : "#e8e1d6", "stroke-width": unit / 3 }));
        svg.appendChild(el("text", { x: v.x + unit, y: -gy - unit, "font-size": 2.6 * unit, fill: "#7a6f62" }, String(gy)));
      }
      warehouses.forEach(function (w) {
        var g = el("g", { "class": "warehouse", "data-warehouse": w.id, "data-x": w.x, "data-y": w.y });
        g.appendChild(el("rect", { x: w.x - 1.8 * unit, y: -w.y - 1.8 * unit, width: 3.6 * unit, height: 3.6 * unit, fill: "#4b2e14", rx: unit / 2 }));
        g.appendChild(el("text", { x: w.x + 2.4 * unit, y: -w.y + unit, "font-size": 3.2 * unit, fill: "#4b2e14" }, "W" + w.id));
        g.appendChild(el("title", {}, "Warehouse " + w.id + " (" + w.x + ", " + w.y + ")"));
        svg.appendChild(g);
      });
      places.forEach(function (p) {
        var g = el("g", { "class": "place" });
        g.appendChild(el("circle", { cx: p.x, cy: -p.y, r: 1.6 * unit, fill: "#146eb4" }));
        g.appendChild(el("text", { x: p.x + 2.2 * unit, y: -p.y - 1.2 * unit, "font-size": 3 * unit, fill: "#146eb4" }, p.name));
        svg.appendChild(g);
      });
      var point = chosen();
      if (point && inside(point)) {
        var g = el("g", { "class": "chosen", "data-x": point.x, "data-y": point.y });
        g.appendChild(el("circle", { cx: point.x, cy: -point.y, r: 2.4 * unit, fill: "none", stroke: "#c2410c", "stroke-width": unit }));
        g.appendChild(el("circle", { cx: point.x, cy: -point.y, r: 0.7 * unit, fill: "#c2410c" }));
        g.appendChild(el("text", { x: point.x + 3 * unit, y: -point.y + 4.5 * unit, "font-size": 3.2 * unit, fill: "#c2410c", "font-weight": "bold" }, "(" + point.x + ", " + point.y + ")"));
        svg.appendChild(g);
      }
    }

    function changed() {
      ["input", "change"].forEach(function (kind) {
        xInput.dispatchEvent(new Event(kind, { bubbles: true }));
        yInput.dispatchEvent(new Event(kind, { bubbles: true }));
      });
    }

    svg.addEventListener("click", function (event) {
      var p = svg.createSVGPoint();
      p.x = event.clientX;
      p.y = event.clientY;
      var world = p.matrixTransform(svg.getScreenCTM().inverse());
      xInput.value = Math.round(world.x);
      yInput.value = Math.round(-world.y);
      changed();
      draw(); // no refit: the map stays still under the pointer
    });
    [xInput, yInput].forEach(function (input) {
      input.addEventListener("input", function () {
        var point = chosen();
        if (point && !inside(point)) fit();
        draw();
      });
    });
    document.querySelectorAll('select[data-address-for="' + map.id + '"]').forEach(function (select) {
      // x and y typed or clicked elsewhere: the address no longer says where it goes.
      [xInput, yInput].forEach(function (input) {
        input.addEventListener("input", function () {
          var option = select.options[select.selectedIndex];
          if (option && option.getAttribute("data-x") &&
              (option.getAttribute("data-x") !== xInput.value.trim() || option.getAttribute("data-y") !== yInput.value.trim())) {
            select.value = "";
          }
        });
      });
      select.addEventListener("change", function () {
        var option = select.options[select.selectedIndex];
        if (!option || !option.getAttribute("data-x")) return;
        xInput.value = option.getAttribute("data-x");
        yInput.value = option.getAttribute("data-y");
        changed();
      });
    });
    map.hidden = false;
    fit();
    draw();
    fetch(map.getAttribute("data-warehouses"), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        warehouses = data.warehouses || [];
        fit();
        draw();
        map.setAttribute("data-loaded", "1");
      })
      .catch(function () { map.setAttribute("data-loaded", "1"); });
  }

  document.querySelectorAll(".grid-map").forEach(init);
})();
