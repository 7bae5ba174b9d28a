// pitmaster console: live refresh of an execution page, local times, confirmations.
// Pages work without it. Every value is written with textContent, so nothing from a
// job is ever parsed as HTML.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var TIMES_MS = 15000;
  var ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

  function pad(number, width) {
    var text = String(number);
    while (text.length < (width || 2)) text = "0" + text;
    return text;
  }

  // The one format of the console, in the browser's time zone: 2026-12-02 04:31:05.
  function exactLocal(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  function relative(date, now) {
    var seconds = (now - date) / 1000;
    var size = Math.abs(seconds);
    var text;
    if (size < 5) return "just now";
    if (size < 60) text = Math.round(size) + " s";
    else if (size < 3600) text = Math.floor(size / 60) + " min";
    else if (size < 86400) text = Math.floor(size / 3600) + " h";
    else text = Math.floor(size / 86400) + " d";
    return seconds < 0 ? "in " + text : text + " ago";
  }

  // Every <time datetime> reads relative ("3 min ago"), or exact for data-format="exact"
  // (timelines, where order matters), with the exact local time and its zone on hover.
  function localizeTimes(root) {
    var now = Date.now();
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var iso = node.getAttribute("datetime");
      if (!iso) return;
      var date = new Date(iso);
      if (isNaN(date.getTime())) return;
      var exact = exactLocal(date);
      var text = node.dataset.format === "exact" ? exact : relative(date, now);
      if (node.textContent !== text) node.textContent = text;
      node.title = exact + " (" + ZONE + ", your browser's time zone)";
    });
  }

  function setTime(id, text, iso) {
    var node = document.getElementById(id);
    if (!node) return;
    if (node.getAttribute("datetime") !== iso) {
      node.setAttribute("datetime", iso);
      node.textContent = text;
    }
  }

  // A form with data-confirm asks first, in a <dialog>, saying what it will do.
  function confirmations() {
    var dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.id = "confirm-dialog";
    var text = document.createElement("p");
    text.id = "confirm-text";
    var buttons = document.createElement("div");
    buttons.className = "buttons";
    var back = document.createElement("button");
    back.type = "button";
    back.textContent = "Go back";
    var go = document.createElement("button");
    go.type = "button";
    go.className = "danger";
    buttons.append(back, " ", go);
    dialog.append(text, buttons);
    dialog.setAttribute("aria-labelledby", "confirm-text");
    document.body.appendChild(dialog);
    var pending = null;
    back.addEventListener("click", function () { pending = null; dialog.close(); });
    go.addEventListener("click", function () {
      var form = pending;
      pending = null;
      dialog.close();
      if (form) form.submit();  // submit() skips the submit event: no second question
    });
    function ask(form, question, action) {
      pending = action ? form : null;
      text.textContent = question;
      go.hidden = !action;
      go.textContent = action || "";
      if (!dialog.open) dialog.showModal();
      back.focus();
    }
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
      event.preventDefault();
      var url = form.dataset.confirmUrl;
      if (!url) {
        ask(form, form.dataset.confirm, form.dataset.confirmButton || "Confirm");
        return;
      }
      // The server counts what the action would do now: "retry 25 failed executions in 3 apps".
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (preview) {
          if (!preview.executions) ask(form, "Nothing matches this filter: there is nothing to retry.", "");
          else ask(form, preview.summary.charAt(0).toUpperCase() + preview.summary.slice(1) + "?", preview.summary);
        })
        .catch(function () { ask(form, form.dataset.confirm, form.dataset.confirmButton || "Confirm"); });
    });
  }

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
      if (entry[4]) {
        time.setAttribute("datetime", entry[4]);
        time.dataset.format = "exact";
      }
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
    setTime("started-at", state.started_at, state.started_at_iso);
    setTime("finished-at", state.finished_at, state.finished_at_iso);
    setText("duration", state.duration);
    setText("queue-wait", state.queue_wait);
    setText("total", state.total);
    setText("stopping", state.stopping);
    document.getElementById("stopping").hidden = !state.stopping;
    setText("stdout", state.stdout);
    setText("stderr", state.stderr);
    setText("output-note", state.output_note);
    var retry = document.getElementById("retry-form");  // absent when read-only
    if (retry) retry.hidden = !state.can_retry;
    var cancel = document.getElementById("cancel-form");
    if (cancel) cancel.hidden = !state.can_cancel;
    renderTimeline(state.timeline);
    renderAttempts(state.attempts);
    localizeTimes(article);
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

  // The first page of the executions list, fetched again and swapped in: new rows
  // appear, ended ones change. The server's HTML is parsed inert (no script runs).
  var LIST_MS = 5000;

  function refreshList(table) {
    var toggle = document.getElementById("list-live");
    if (document.hidden || (toggle && !toggle.checked)) {
      setTimeout(function () { refreshList(table); }, LIST_MS);
      return;
    }
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var seen = {};
        table.querySelectorAll("tbody tr").forEach(function (row) { seen[row.dataset.id] = true; });
        var body = fresh.querySelector("#executions-list tbody");
        var counts = fresh.getElementById("status-counts");
        if (body) {
          body.querySelectorAll("tr").forEach(function (row) {
            if (row.dataset.id && !seen[row.dataset.id]) row.classList.add("new");
          });
          table.replaceChild(document.adoptNode(body), table.querySelector("tbody"));
          localizeTimes(table);
        }
        var shown = document.getElementById("status-counts");
        if (counts && shown) shown.parentNode.replaceChild(document.adoptNode(counts), shown);
        table.dataset.refreshed = String(Date.now());
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { setTimeout(function () { refreshList(table); }, LIST_MS); });
  }

  // A page with an "auto-refresh" box (the monitor) reloads itself while it is ticked.
  function autoRefresh() {
    var box = document.getElementById("auto-refresh");
    if (!box) return;
    var key = "pitmaster-refresh:" + window.location.pathname;
    if (window.sessionStorage.getItem(key) === "off") box.checked = false;
    box.addEventListener("change", function () {
      window.sessionStorage.setItem(key, box.checked ? "on" : "off");
    });
    setTimeout(function tick() {
      if (box.checked && !document.hidden) window.location.reload();
      else setTimeout(tick, 1000 * Number(box.dataset.seconds));
    }, 1000 * Number(box.dataset.seconds));
  }

  document.addEventListener("DOMContentLoaded", function () {
    autoRefresh();
    var list = document.querySelector("#executions-list[data-live='true']");
    if (list) setTimeout(function () { refreshList(list); }, LIST_MS);
    localizeTimes(document);
    setInterval(function () { localizeTimes(document); }, TIMES_MS);
    confirmations();
    var article = document.getElementById("execution");
    if (article && article.dataset.terminal !== "true") setTimeout(function () { poll(article); }, POLL_MS);
  });
})();
