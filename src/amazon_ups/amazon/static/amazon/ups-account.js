// Checkout: as the shopper gives a UPS account id, ask UPS (through the store) whether it
// knows it, and say so next to the field before the order is placed. The answer comes
// over the Amazon-UPS link, so the page polls for it, for a few seconds at most; the
// order goes ahead whatever UPS says, or if it says nothing in time.
(function () {
  "use strict";
  var status = document.getElementById("ups-account-status");
  var input = document.getElementById("id_ups_account");
  if (!status || !input) return;
  var form = input.form;
  var DEADLINE_MS = 6000, EVERY_MS = 400;
  var asked = null, timer = null;

  function show(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function answer(data, number, startedAt) {
    if (asked !== number) return; // the shopper has typed another number meanwhile
    if (data.error) { show("error", data.error); return; }
    if (data.state === "linked") { show("linked", "UPS knows account " + number + ": your order will be linked to it."); return; }
    if (data.state === "unknown") { show("unknown", "UPS does not know account " + number + ". Check the number; your order still ships, unlinked."); return; }
    if (Date.now() - startedAt > DEADLINE_MS) { show("late", "UPS has not answered yet; your order ships either way, and its page will say."); return; }
    show("checking", "Asking UPS about account " + number + "\u2026");
    timer = setTimeout(function () {
      fetch(status.getAttribute("data-status") + "?number=" + encodeURIComponent(number), { headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) { answer(data, number, startedAt); })
        .catch(function () { show("late", "Could not reach the store to check; your order ships either way."); });
    }, EVERY_MS);
  }

  function check() {
    var number = input.value.trim();
    clearTimeout(timer);
    if (number === asked) return;
    asked = number;
    if (!number) { show("", ""); return; }
    var body = new FormData();
    body.append("number", number);
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    var startedAt = Date.now();
    show("checking", "Asking UPS about account " + number + "\u2026");
    fetch(status.getAttribute("data-check"), { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) { answer(data, number, startedAt); })
      .catch(function () { show("late", "Could not reach the store to check; your order ships either way."); });
  }

  input.addEventListener("change", check);
  input.addEventListener("blur", check);
  if (input.value.trim()) check();
})();
