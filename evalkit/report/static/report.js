/* evalkit report tables: sortable, filterable, paginated; rows are built with textContent only. */
(function () {
  "use strict";

  // A word (no spaces, no punctuation) keeps its trailing space, so spaces alone never anchor a match;
  // each character of a script without spaces (Han, kana, Thai...) is a token of its own. The tables'
  // data carries the pattern the server-side diffs use (evalkit/report/_diff.py TOKEN_PATTERN).
  var WORD = /[^\s.,;:!?¿¡"'()\[\]{}«»“”‘’、。，！？؟،।]+\s*|\S\s*|\s+/gu;
  var MAX_CELLS = 4000000; // LCS table size above which a diff shows whole texts as changed

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function tokenize(s, re) {
    return s.match(re) || [];
  }

  // Token diff: common prefix/suffix trimmed, LCS on the rest. Returns [op, text] with op in "=", "-", "+".
  function diff(a, b, re) {
    var x = tokenize(a, re), y = tokenize(b, re);
    var pre = 0;
    while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
    var suf = 0;
    while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
    var xs = x.slice(pre, x.length - suf), ys = y.slice(pre, y.length - suf);
    var out = [];
    function push(op, text) {
      if (!text) return;
      if (out.length && out[out.length - 1][0] === op) out[out.length - 1][1] += text;
      else out.push([op, text]);
    }
    push("=", x.slice(0, pre).join(""));
    var n = xs.length, m = ys.length;
    if (n * m > MAX_CELLS) {
      push("-", xs.join(""));
      push("+", ys.join(""));
    } else {
      var w = m + 1, t = new Uint32Array((n + 1) * w);
      for (var i = n - 1; i >= 0; i--) {
        for (var j = m - 1; j >= 0; j--) {
          t[i * w + j] = xs[i] === ys[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
        }
      }
      var i2 = 0, j2 = 0;
      while (i2 < n && j2 < m) {
        if (xs[i2] === ys[j2]) { push("=", xs[i2]); i2++; j2++; }
        else if (t[(i2 + 1) * w + j2] >= t[i2 * w + j2 + 1]) { push("-", xs[i2]); i2++; }
        else { push("+", ys[j2]); j2++; }
      }
      while (i2 < n) push("-", xs[i2++]);
      while (j2 < m) push("+", ys[j2++]);
    }
    push("=", x.slice(x.length - suf).join(""));
    return out;
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "—" : Number(v).toFixed(digits === undefined ? 1 : digits);
  }

  function signed(v) {
    if (v === null || v === undefined) return "—";
    var s = v.toFixed(1);
    if (s === "0.0" || s === "-0.0") return "±0.0";
    return (v > 0 ? "+" : "−") + Math.abs(v).toFixed(1);
  }

  function Table(root) {
    var spec = JSON.parse(document.getElementById(root.getAttribute("data-source")).textContent);
    var cols = spec.columns, rows = spec.rows, idx = {};
    cols.forEach(function (c, i) { idx[c.key] = i; });
    var tokens = spec.tokens ? new RegExp(spec.tokens, "gu") : WORD;
    var state = { sort: spec.sort ? idx[spec.sort.key] : -1, dir: spec.sort ? spec.sort.dir : 1,
                  page: 0, size: spec.pageSize || 50, facets: {}, toggles: {}, query: "" };
    var searchText = null, view = null, diffCache = new Map();

    // ---- controls
    var controls = el("div", "controls");
    cols.forEach(function (c, i) {
      if (!c.facet) return;
      var values = Array.from(new Set(rows.map(function (r) { return r[i]; }))).filter(function (v) {
        return v !== "" && v !== null;
      }).sort();
      var label = el("label", "control"), select = el("select");
      label.appendChild(el("span", null, c.label));
      select.setAttribute("data-facet", c.key);
      select.appendChild(new Option("all", ""));
      values.forEach(function (v) { select.appendChild(new Option(String(v), String(v))); });
      select.addEventListener("change", function () { state.facets[i] = select.value; state.page = 0; refresh(); });
      label.appendChild(select);
      controls.appendChild(label);
    });
    (spec.toggles || []).forEach(function (tg) {
      var label = el("label", "control toggle"), box = el("input");
      box.type = "checkbox";
      box.setAttribute("data-toggle", tg.key);
      box.addEventListener("change", function () { state.toggles[idx[tg.key]] = box.checked; state.page = 0; refresh(); });
      label.appendChild(box);
      label.appendChild(el("span", null, tg.label));
      controls.appendChild(label);
    });
    var search = el("input", "search");
    search.type = "search";
    search.placeholder = "Search text…";
    search.setAttribute("aria-label", "Search text");
    var timer = 0;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.query = search.value.trim().toLowerCase(); state.page = 0; refresh(); }, 120);
    });
    controls.appendChild(search);
    var count = el("span", "count");
    count.setAttribute("aria-live", "polite");
    controls.appendChild(count);
    root.appendChild(controls);

    // ---- table
    var wrap = el("div", "table-wrap"), table = el("table", "items"), thead = el("thead"), tbody = el("tbody");
    var hr = el("tr"), visible = [];
    cols.forEach(function (c, i) {
      if (c.hidden) return;
      visible.push(i);
      var th = el("th", "col-" + c.type);
      var btn = el("button", "sort", c.label);
      btn.type = "button";
      btn.title = "Sort by " + c.label;
      btn.addEventListener("click", function () {
        if (state.sort === i) state.dir = -state.dir; else { state.sort = i; state.dir = 1; }
        state.page = 0;
        view = null;
        refresh();
      });
      th.appendChild(btn);
      th.setAttribute("data-key", c.key);
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    table.appendChild(tbody);
    wrap.appendChild(table);
    root.appendChild(wrap);

    // ---- pager
    var pager = el("div", "pager");
    var prev = el("button", null, "‹ Prev"), next = el("button", null, "Next ›"), where = el("span", "where");
    prev.type = next.type = "button";
    var size = el("select");
    [25, 50, 100, 250].forEach(function (n) { size.appendChild(new Option(n + " / page", String(n))); });
    size.value = String(state.size);
    size.addEventListener("change", function () { state.size = Number(size.value); state.page = 0; render(); });
    prev.addEventListener("click", function () { if (state.page > 0) { state.page--; render(); } });
    next.addEventListener("click", function () { state.page++; render(); });
    pager.appendChild(prev);
    pager.appendChild(where);
    pager.appendChild(next);
    pager.appendChild(size);
    root.appendChild(pager);

    function textOf(r) {
      var parts = [];
      cols.forEach(function (c, i) {
        if (c.search || c.type === "tag" || c.type === "short") parts.push(r[i] === null ? "" : String(r[i]));
      });
      return parts.join("\u0001").toLowerCase();
    }

    function sortKey(c, v) {
      if (c.type === "pair") {
        if (!v || v[0] === null || v[1] === null) return null;
        return (v[1] - v[0]) * (c.hib === false ? -1 : 1);
      }
      return v;
    }

    function filter() {
      var out = [], q = state.query;
      if (q && !searchText) searchText = rows.map(textOf);
      var facets = Object.keys(state.facets).filter(function (k) { return state.facets[k] !== ""; });
      var toggles = Object.keys(state.toggles).filter(function (k) { return state.toggles[k]; });
      for (var r = 0; r < rows.length; r++) {
        var row = rows[r], ok = true, k;
        for (k = 0; ok && k < facets.length; k++) ok = String(row[facets[k]]) === state.facets[facets[k]];
        for (k = 0; ok && k < toggles.length; k++) ok = !!row[toggles[k]];
        if (ok && q) ok = searchText[r].indexOf(q) >= 0;
        if (ok) out.push(r);
      }
      if (state.sort >= 0) {
        var c = cols[state.sort], i = state.sort, dir = state.dir;
        var keys = new Array(rows.length);
        out.forEach(function (r) { keys[r] = sortKey(c, rows[r][i]); });
        out.sort(function (a, b) {
          var x = keys[a], y = keys[b];
          if (x === y) return a - b;
          if (x === null || x === undefined || x === "") return 1;
          if (y === null || y === undefined || y === "") return -1;
          return (x < y ? -1 : 1) * dir;
        });
      }
      return out;
    }

    function textCell(td, c, row, value) {
      if (value === "" || value === null) { td.appendChild(el("span", "muted", "—")); return; }
      var div = el("div", "text clamp");
      div.setAttribute("dir", "auto");
      if (c.lang && row[idx[c.lang]]) div.setAttribute("lang", row[idx[c.lang]]);
      if (c.diff) {
        var other = row[idx[c.diff]];
        if (other !== null && other !== "" && other !== value) {
          var key = rowsIndex(row) + ":" + c.key, parts = diffCache.get(key);
          if (!parts) {
            parts = c.side === "base" ? diff(value, other, tokens) : diff(other, value, tokens);
            diffCache.set(key, parts);
          }
          parts.forEach(function (p) {
            if (p[0] === "=") div.appendChild(document.createTextNode(p[1]));
            else if (p[0] === "-" && c.side === "base") div.appendChild(el("del", null, p[1]));
            else if (p[0] === "+" && c.side === "cand") div.appendChild(el("ins", null, p[1]));
          });
        } else {
          div.textContent = value;
        }
      } else {
        div.textContent = value;
      }
      div.title = "Click to expand";
      div.addEventListener("click", function () { div.classList.toggle("clamp"); });
      td.appendChild(div);
      if (c.convo && spec.conversation) conversation(td, row);
    }

    // The full rendered conversation (system, few-shot turns, user), collapsed under the input.
    function conversation(td, row) {
      var cv = spec.conversation, k = cv.rows[rowsIndex(row)];
      if (k === undefined || k < 0) return;
      var p = cv.prefixes[k], msgs = p.m.slice();
      if (p.last) msgs.push(["user", row[idx.input]]);
      var det = el("details", "convo"), list = el("ol", "convo-list");
      det.appendChild(el("summary", null, "Conversation (" + msgs.length + " messages)"));
      msgs.forEach(function (m) {
        var li = el("li", "msg"), text = el("div", "text", m[1]);
        li.setAttribute("data-role", m[0]);
        text.setAttribute("dir", "auto");
        li.appendChild(el("span", "role", m[0]));
        li.appendChild(text);
        list.appendChild(li);
      });
      det.appendChild(list);
      td.appendChild(det);
    }

    var rowIndexOf = new Map();
    rows.forEach(function (r, i) { rowIndexOf.set(r, i); });
    function rowsIndex(row) { return rowIndexOf.get(row); }

    function cell(c, row) {
      var v = row[idx[c.key]], td = el("td", "col-" + c.type);
      switch (c.type) {
        case "tag":
          if (v !== "" && v !== null) td.appendChild(el("span", "tag", v));
          break;
        case "flip":
          if (v) td.appendChild(el("span", "tag flip flip-" + v, (spec.flipLabels || {})[v] || v));
          break;
        case "long":
          textCell(td, c, row, v);
          break;
        case "score":
          td.textContent = fmt(v);
          break;
        case "bin":
          td.textContent = v === null ? "—" : (v >= 0.5 ? "✓" : "✗");
          td.className += v === null ? " muted" : (v >= 0.5 ? " pass" : " fail");
          break;
        case "pair":
          if (!v) { td.textContent = "—"; break; }
          var d = (v[0] === null || v[1] === null) ? null : v[1] - v[0];
          var bin = c.binary;
          var txt = bin ? (v[0] === null ? "—" : (v[0] >= 0.5 ? "✓" : "✗")) + " → " + (v[1] === null ? "—" : (v[1] >= 0.5 ? "✓" : "✗"))
                        : fmt(v[0]) + " → " + fmt(v[1]);
          td.appendChild(el("div", "pair", txt));
          if (d !== null && !bin) td.appendChild(el("div", "delta", signed(d)));
          if (d !== null && d !== 0) td.className += ((d > 0) === (c.hib !== false)) ? " better" : " worse";
          break;
        case "error":
          if (v) td.appendChild(el("span", "err", v));
          break;
        default:
          td.textContent = v === null ? "" : v;
      }
      return td;
    }

    function render() {
      var pages = Math.max(1, Math.ceil(view.length / state.size));
      if (state.page >= pages) state.page = pages - 1;
      var start = state.page * state.size, end = Math.min(view.length, start + state.size);
      var frag = document.createDocumentFragment();
      var failed = idx.failed, wrong = idx.wrong;
      for (var k = start; k < end; k++) {
        var row = rows[view[k]], tr = el("tr");
        if (failed !== undefined && row[failed]) tr.className += " row-failed";
        if (wrong !== undefined && row[wrong]) tr.className += " row-wrong";
        visible.forEach(function (i) { tr.appendChild(cell(cols[i], row)); });
        frag.appendChild(tr);
      }
      tbody.replaceChildren(frag);
      if (!view.length) {
        var empty = el("tr"), td = el("td", "empty", "No items match these filters.");
        td.colSpan = visible.length;
        empty.appendChild(td);
        tbody.appendChild(empty);
      }
      count.textContent = (view.length ? (start + 1) + "–" + end : "0") + " of " + view.length.toLocaleString("en") +
        " items" + (view.length !== rows.length ? " (" + rows.length.toLocaleString("en") + " total)" : "");
      where.textContent = "Page " + (state.page + 1) + " of " + pages;
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
      thead.querySelectorAll("th").forEach(function (th, j) {
        var i = visible[j];
        th.setAttribute("aria-sort", i === state.sort ? (state.dir > 0 ? "ascending" : "descending") : "none");
      });
      root.setAttribute("data-rows", String(end - start));
      root.setAttribute("data-matching", String(view.length));
    }

    function refresh() { view = filter(); render(); }
    refresh();
    root.setAttribute("data-ready", "1");
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var target = document.getElementById(btn.getAttribute("data-copy"));
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        btn.textContent = ok ? "Copied" : "Selected — press Ctrl+C";
      });
    });
  }

  // Server-rendered tables sorted by severity: one click restores the reading (language) order, one more
  // the severity order. Rows carry both positions (data-severity, data-order).
  function orderButtons() {
    document.querySelectorAll("[data-order-table]").forEach(function (btn) {
      var table = document.getElementById(btn.getAttribute("data-order-table"));
      var body = table.tBodies[0];
      btn.addEventListener("click", function () {
        var bySeverity = table.getAttribute("data-sorted") !== "severity";
        var attr = bySeverity ? "data-severity" : "data-order";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return Number(a.getAttribute(attr)) - Number(b.getAttribute(attr)); });
        rows.forEach(function (r) { body.appendChild(r); });
        table.setAttribute("data-sorted", bySeverity ? "severity" : "language");
        btn.textContent = bySeverity ? "Language order" : "Severity order";
        btn.setAttribute("aria-pressed", bySeverity ? "false" : "true");
        var note = btn.parentElement.querySelector(".order-state");
        if (note) note.textContent = bySeverity ? "Sorted by severity: significant regressions first, then the largest drops."
                                                : "In language order (then variant and metric).";
      });
    });
  }

  document.querySelectorAll("[data-table]").forEach(function (root) { Table(root); });
  copyButtons();
  orderButtons();
  document.documentElement.setAttribute("data-report-ready", "1");
})();
