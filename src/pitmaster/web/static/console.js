// pitmaster console: live refresh of an execution page. Pages work without it.
// Every value is written with textContent, so nothing from a job is ever parsed as HTML.
(function () {
  "use strict";
  var POLL_MS = 1000;

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node && node.textContent !== value) node.textContent = value;
  }

  // A link to an attempt's own page; the number comes from the server as digits only.
  function attemptLink(number, text) {
    var article = document.getElementById("execution");
    var link = document.createElement("a");
    link.href = article.dataset.attemptsUrl + encodeURIComponent(number);
    link.textContent = text;
    return link;
  }

  function renderTimeline(entries) {
    var list = document.getElementById("timeline");
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      var time = document.createElement("time");
      time.textContent = entry[0];
      var event = document.createElement("strong");
      if (entry[3]) event.appendChild(attemptLink(entry[3], entry[1]));
      else event.textContent = entry[1];
      var detail = document.createElement("span");
      detail.textContent = entry[2];
      item.append(time, " ", event, " ", detail);
      list.appendChild(item);
    });
  }

  function renderAttempts(rows) {
    var body = document.querySelector("#attempts tbody");
    if (!body) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (cell, index) {
        var td = document.createElement("td");
        if (index === 1 || index === 9) td.className = "mono";
        if (index === 0) {
          // The table counts attempts from 1; their pages go by the stored number.
          var link = attemptLink(String(Number(cell) - 1), cell);
          link.title = "this attempt's output";
          td.appendChild(link);
        } else if (index === 3 && cell) {
          var badge = document.createElement("span");
          badge.className = "status status-" + cell;
          badge.textContent = cell;
          td.appendChild(badge);
        } else {
          td.textContent = cell;
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function apply(article, state) {
    // An empty output box reads "(empty)" once nothing more can come (console.css).
    article.dataset.terminal = state.terminal ? "true" : "false";
    var badge = document.getElementById("status");
    if (badge) {
      badge.textContent = state.status;
      badge.className = "status status-" + state.status;
    }
    setText("reason", state.reason || "\u2014");
    setText("pending-reason", state.pending_reason || "\u2014");
    document.getElementById("pending-reason-label").hidden = !state.waiting;
    document.getElementById("pending-reason").hidden = !state.waiting;
    setText("exit-code", state.exit_code || "\u2014");
    setText("started-at", state.started_at);
    setText("finished-at", state.finished_at);
    setText("duration", state.duration);
    setText("stdout", state.stdout);
    setText("stderr", state.stderr);
    setText("output-note", state.output_note);
    document.getElementById("retry-form").hidden = !state.can_retry;
    document.getElementById("cancel-form").hidden = !state.can_cancel;
    renderTimeline(state.timeline);
    renderAttempts(state.attempts);
  }

  function poll(article) {
    fetch(article.dataset.liveUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        apply(article, state);
        if (!state.terminal) setTimeout(function () { poll(article); }, POLL_MS);
      })
      .catch(function () { setTimeout(function () { poll(article); }, POLL_MS * 3); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var article = document.getElementById("execution");
    if (article && article.dataset.terminal !== "true") setTimeout(function () { poll(article); }, POLL_MS);
  });
})();
