// pitmaster console: the log viewer of an execution's or an attempt's output.
// It reads the <pre id="stdout"> and <pre id="stderr"> the server rendered (and that
// console.js keeps live), hides them, and shows one stream at a time with line numbers,
// wrapping, search, follow and a raw download. Lines are drawn in chunks, and only the
// chunks near the visible part are drawn, so 100,000 lines open as fast as 100.
// Every line is written with textContent: nothing from a job is parsed as HTML.
(function () {
  "use strict";
  var CHUNK = 500;  // lines per chunk
  var SEARCH_DELAY_MS = 150;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(text, id) {
    var node = element("button", "small", text);
    node.type = "button";
    node.id = id;
    return node;
  }

  function countLines(text) {
    if (!text) return 0;
    var count = 0;
    for (var at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) count += 1;
    return text[text.length - 1] === "\n" ? count : count + 1;
  }

  function splitLines(text) {
    if (!text) return [];
    var lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return lines;
  }

  function LogViewer(output) {
    var started = performance.now();
    this.output = output;
    this.sources = {
      stdout: document.getElementById("stdout"),
      stderr: document.getElementById("stderr"),
    };
    this.rawUrl = output.dataset.rawUrl;
    this.stream = "stdout";
    this.lines = [];
    this.chunks = [];
    this.hits = [];
    this.hit = -1;
    this.query = "";
    output.classList.add("enhanced");  // first: laying out the <pre> would cost more than all else
    this.build();
    if (!this.sources.stdout.textContent && this.sources.stderr.textContent) this.stream = "stderr";
    this.render();
    this.root.dataset.renderMs = String(Math.round(performance.now() - started));
    this.root.dataset.ready = "true";
  }

  LogViewer.prototype.build = function () {
    var self = this;
    var root = element("div", "logview");
    root.id = "log-viewer";
    var bar = element("div", "logbar");
    bar.setAttribute("role", "toolbar");
    var tabs = element("div", "logtabs");
    tabs.setAttribute("role", "tablist");
    this.tabs = {};
    ["stdout", "stderr"].forEach(function (stream) {
      var tab = button(stream, "log-tab-" + stream);
      tab.setAttribute("role", "tab");
      tab.addEventListener("click", function () { self.show(stream); });
      self.tabs[stream] = tab;
      tabs.appendChild(tab);
    });
    this.search = element("input");
    this.search.type = "search";
    this.search.id = "log-search";
    this.search.placeholder = "Search the output";
    this.search.setAttribute("aria-label", "Search the output");
    this.hitsText = element("span", "loghits");
    this.hitsText.id = "log-hits";
    var previous = button("\u2191", "log-previous");
    previous.title = "previous match";
    previous.setAttribute("aria-label", "Previous match");
    var next = button("\u2193", "log-next");
    next.title = "next match";
    next.setAttribute("aria-label", "Next match");
    var wrapLabel = element("label", "logcheck");
    this.wrap = element("input");
    this.wrap.type = "checkbox";
    this.wrap.id = "log-wrap";
    wrapLabel.append(this.wrap, " Wrap lines");
    var followLabel = element("label", "logcheck");
    this.follow = element("input");
    this.follow.type = "checkbox";
    this.follow.id = "log-follow";
    this.follow.checked = true;
    followLabel.append(this.follow, " Follow");
    followLabel.title = "While it runs, keep showing the newest lines (when scrolled to the end)";
    this.followLabel = followLabel;
    var end = button("Jump to end", "log-end");
    this.download = element("a", "button small", "Download raw");
    this.download.id = "log-download";
    bar.append(tabs, this.search, this.hitsText, previous, next, wrapLabel, followLabel, end, this.download);
    this.body = element("div", "logbody");
    this.body.id = "log-body";
    this.body.tabIndex = 0;
    root.append(bar, this.body);
    this.output.parentNode.insertBefore(root, this.output);
    this.root = root;

    var timer = null;
    this.search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.find(self.search.value); }, SEARCH_DELAY_MS);
    });
    this.search.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      clearTimeout(timer);
      if (self.search.value !== self.query) self.find(self.search.value);
      else self.step(event.shiftKey ? -1 : 1);
    });
    previous.addEventListener("click", function () { self.step(-1); });
    next.addEventListener("click", function () { self.step(1); });
    this.wrap.addEventListener("change", function () {
      self.root.classList.toggle("wrap", self.wrap.checked);
    });
    end.addEventListener("click", function () { self.jumpToEnd(); });
    this.observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (entry.isIntersecting) self.fill(entry.target); });
    }, { root: this.body, rootMargin: "800px 0px" });
    [this.sources.stdout, this.sources.stderr].forEach(function (source) {
      new MutationObserver(function () { self.changed(source); })
        .observe(source, { childList: true, characterData: true, subtree: true });
    });
  };

  LogViewer.prototype.atEnd = function () {
    var body = this.body;
    return body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
  };

  LogViewer.prototype.changed = function (source) {
    this.updateTabs();
    if (source !== this.sources[this.stream]) return;
    var following = this.follow.checked && this.atEnd();
    var top = this.body.scrollTop;
    this.render();
    if (following) this.toEnd();
    else this.body.scrollTop = top;
  };

  LogViewer.prototype.updateTabs = function () {
    var self = this;
    var running = document.querySelector("[data-terminal='false']") !== null;
    this.followLabel.hidden = !running;
    Object.keys(this.tabs).forEach(function (stream) {
      var count = countLines(self.sources[stream].textContent);
      self.tabs[stream].textContent = stream + " (" + count + " line" + (count === 1 ? "" : "s") + ")";
      self.tabs[stream].setAttribute("aria-selected", stream === self.stream ? "true" : "false");
    });
  };

  LogViewer.prototype.show = function (stream) {
    this.stream = stream;
    this.render();
    this.body.scrollTop = 0;
    if (this.query) this.find(this.query);
  };

  LogViewer.prototype.render = function () {
    var self = this;
    this.updateTabs();
    this.download.href = this.rawUrl + this.stream + ".txt";
    this.download.setAttribute("download", this.stream + ".txt");
    this.lines = splitLines(this.sources[this.stream].textContent);
    this.observer.disconnect();
    while (this.body.firstChild) this.body.removeChild(this.body.firstChild);
    this.chunks = [];
    this.body.classList.toggle("digits-6", this.lines.length >= 100000);
    if (this.lines.length === 0) {
      this.body.appendChild(element("div", "logempty", "(no output on " + this.stream + ")"));
      return;
    }
    var height = this.lineHeight();
    for (var start = 0; start < this.lines.length; start += CHUNK) {
      var chunk = element("div", "logchunk");
      chunk.dataset.start = String(start);
      var count = Math.min(CHUNK, this.lines.length - start);
      chunk.style.height = count * height + "px";  // until drawn (CSSOM: allowed by the CSP)
      this.chunks.push(chunk);
      this.body.appendChild(chunk);
      this.observer.observe(chunk);
    }
    if (this.query) this.markHits();
    self.fill(this.chunks[0]);
  };

  LogViewer.prototype.lineHeight = function () {
    if (this.height) return this.height;
    var probe = element("div", "logline", "0");
    this.body.appendChild(probe);
    this.height = probe.getBoundingClientRect().height || 16;
    this.body.removeChild(probe);
    return this.height;
  };

  LogViewer.prototype.fill = function (chunk) {
    if (chunk.dataset.filled) return;
    chunk.dataset.filled = "true";
    var start = Number(chunk.dataset.start);
    var end = Math.min(start + CHUNK, this.lines.length);
    var fragment = document.createDocumentFragment();
    for (var index = start; index < end; index += 1) {
      var line = element("div", "logline", this.lines[index]);
      line.dataset.n = String(index + 1);
      fragment.appendChild(line);
    }
    chunk.appendChild(fragment);
    chunk.style.height = "";
    this.observer.unobserve(chunk);
    if (this.query) this.markHits(chunk);
  };

  LogViewer.prototype.lineNode = function (index) {
    var chunk = this.chunks[Math.floor(index / CHUNK)];
    if (!chunk) return null;
    this.fill(chunk);
    return chunk.children[index % CHUNK] || null;
  };

  LogViewer.prototype.toEnd = function () {
    if (this.chunks.length) this.fill(this.chunks[this.chunks.length - 1]);
    this.body.scrollTop = this.body.scrollHeight;
  };

  // The button also brings the viewer itself into the window.
  LogViewer.prototype.jumpToEnd = function () {
    this.root.scrollIntoView({ block: "end" });
    this.toEnd();
  };

  LogViewer.prototype.find = function (query) {
    this.query = query;
    this.hits = [];
    this.hit = -1;
    if (query) {
      var needle = query.toLowerCase();
      for (var index = 0; index < this.lines.length; index += 1) {
        if (this.lines[index].toLowerCase().indexOf(needle) !== -1) this.hits.push(index);
      }
    }
    this.markHits();
    if (this.hits.length) this.step(1);
    else this.hitsText.textContent = query ? "no match" : "";
  };

  LogViewer.prototype.markHits = function (only) {
    var needle = this.query.toLowerCase();
    var chunks = only ? [only] : this.chunks;
    chunks.forEach(function (chunk) {
      Array.prototype.forEach.call(chunk.children, function (line) {
        line.classList.toggle("hit", needle !== "" && line.textContent.toLowerCase().indexOf(needle) !== -1);
      });
    });
  };

  LogViewer.prototype.step = function (direction) {
    if (!this.hits.length) return;
    var current = this.hits[this.hit] === undefined ? null : this.lineNode(this.hits[this.hit]);
    if (current) current.classList.remove("current");
    this.hit = (this.hit + direction + this.hits.length) % this.hits.length;
    var line = this.lineNode(this.hits[this.hit]);
    this.hitsText.textContent = (this.hit + 1) + " of " + this.hits.length + " lines";
    if (!line) return;
    line.classList.add("current");
    this.body.scrollTop = line.offsetTop - this.body.clientHeight / 3;  // .logbody is positioned
  };

  document.addEventListener("DOMContentLoaded", function () {
    var output = document.querySelector(".output[data-raw-url]");
    if (output && document.getElementById("stdout")) window.pitmasterLogViewer = new LogViewer(output);
  });
})();
