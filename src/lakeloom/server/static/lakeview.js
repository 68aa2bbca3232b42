/* Draws an AI/BI (.lvdash.json) dashboard snapshot: pages on the 6-column grid, charts
   through the vendored Vega-Lite (expression interpreter, no eval), tables, counters,
   text, and filter widgets that re-filter the stored rows and roll aggregates up again. */
(function () {
  "use strict";
  var holder = document.getElementById("lv-snapshot");
  if (!holder) return;
  var snap = JSON.parse(holder.textContent);
  var def = snap.definition || {};
  var pages = (def.pages || []).filter(function (p) { return p.pageType !== "PAGE_TYPE_GLOBAL_FILTERS"; });
  var globalFilters = (def.pages || []).filter(function (p) { return p.pageType === "PAGE_TYPE_GLOBAL_FILTERS"; });
  var ROW_PX = 64;
  var selections = {};  // column -> {kind: "values", values: [...]} | {kind: "range", min, max}
  var paramValues = {};  // keyword (or keyword.min / keyword.max) -> value, sent to the live route
  var views = [];
  var liveEl = document.getElementById("lv-live");
  var statusEl = document.getElementById("lv-status");
  window.lakeview = {drawn: 0, failed: [], ready: false, types: {}, live: 0, liveErrors: []};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function widgetResult(name) { return (snap.widgets || {})[name] || {queries: [], error: null}; }
  function mainQuery(result) { return (result.queries || []).filter(function (q) { return !q.error; })[0]; }

  function objects(q) {
    var cols = q.columns || [];
    return (q.rows || []).map(function (r) {
      var o = {};
      cols.forEach(function (c, i) { o[c] = r[i]; });
      return o;
    });
  }

  function matches(q, row) {
    var fc = q.filter_columns || {};
    for (var column in selections) {
      if (!Object.prototype.hasOwnProperty.call(fc, column)) continue;
      var sel = selections[column], v = row[fc[column]];
      if (sel.kind === "values" && sel.values.length && sel.values.indexOf(String(v)) < 0) return false;
      if (sel.kind === "range") {
        var s = String(v);
        if (sel.min && s < sel.min) return false;
        if (sel.max && s.slice(0, sel.max.length) > sel.max) return false;
      }
    }
    return true;
  }

  /* The rows a widget shows under the current filters, re-aggregated when the widget
     groups filter columns away (sum / min / max / count-weighted avg). */
  function rowsFor(q) {
    var rows = objects(q).filter(function (r) { return matches(q, r); });
    var fc = q.filter_columns || {};
    var hidden = Object.keys(fc).map(function (k) { return fc[k]; }).filter(function (c) { return c.indexOf("__filter__") === 0; });
    if (!q.aggregated || !hidden.length) return rows;
    var rollups = q.rollups || {}, counts = q.count_columns || {};
    var keys = (q.columns || []).filter(function (c) {
      return c.indexOf("__") !== 0 && !Object.prototype.hasOwnProperty.call(rollups, c);
    });
    var groups = {}, order = [];
    rows.forEach(function (r) {
      var id = JSON.stringify(keys.map(function (k) { return r[k]; }));
      var g = groups[id];
      if (!g) {
        g = groups[id] = {row: {}, weight: {}};
        keys.forEach(function (k) { g.row[k] = r[k]; });
        order.push(id);
      }
      Object.keys(rollups).forEach(function (f) {
        var kind = rollups[f], v = r[f], cur = g.row[f];
        if (v === null || v === undefined) return;
        if (kind === "sum") g.row[f] = (cur || 0) + v;
        else if (kind === "min") g.row[f] = cur === undefined ? v : Math.min(cur, v);
        else if (kind === "max") g.row[f] = cur === undefined ? v : Math.max(cur, v);
        else if (kind === "avg") {
          var n = r[counts[f]] || 0, w = g.weight[f] || 0;
          g.row[f] = ((cur || 0) * w + v * n) / ((w + n) || 1);
          g.weight[f] = w + n;
        } else g.row[f] = null;  // COUNT(DISTINCT ...) cannot be rebuilt from groups
      });
    });
    return order.map(function (id) { return groups[id].row; });
  }

  function escapeField(name) { return String(name).replace(/([.\[\]\\])/g, "\\$1"); }
  function vlType(enc, rows) {
    var t = ((enc || {}).scale || {}).type;
    if (t === "quantitative") return "quantitative";
    if (t === "temporal") return "temporal";
    if (t === "categorical" || t === "ordinal") return "nominal";
    var v = rows.length ? rows[0][enc.fieldName] : null;
    if (typeof v === "number") return "quantitative";
    if (typeof v === "string" && /^\d{4}-\d\d-\d\d/.test(v)) return "temporal";
    return "nominal";
  }
  function channel(enc, rows, extra) {
    var c = {field: escapeField(enc.fieldName), type: vlType(enc, rows), title: enc.displayName || enc.fieldName};
    for (var k in (extra || {})) c[k] = extra[k];
    return c;
  }

  function chartSpec(type, enc, rows) {
    var spec = {data: {values: rows}, width: "container", height: "container", autosize: {type: "fit", contains: "padding"}};
    var e = {};
    if (type === "pie") {
      spec.mark = {type: "arc", innerRadius: 0};
      if (enc.angle) e.theta = channel(enc.angle, rows, {type: "quantitative", stack: true});
      if (enc.color) e.color = channel(enc.color, rows, {type: "nominal"});
    } else if (type === "heatmap") {
      spec.mark = "rect";
      if (enc.x) e.x = channel(enc.x, rows, {type: "nominal"});
      if (enc.y) e.y = channel(enc.y, rows, {type: "nominal"});
      if (enc.color) e.color = channel(enc.color, rows, {type: "quantitative"});
    } else if (type === "histogram") {
      spec.mark = "bar";
      if (enc.x) e.x = channel(enc.x, rows, {type: "quantitative", bin: {maxbins: 20}});
      e.y = {aggregate: "count", type: "quantitative", title: "Count"};
    } else if (type === "combo") {
      var x = channel(enc.x, rows);
      var y = enc.y || {};
      var primary = ((y.primary || {}).fields || []), secondary = ((y.secondary || {}).fields || []);
      spec.layer = [];
      primary.forEach(function (f) { spec.layer.push({mark: "bar", encoding: {x: x, y: channel(f, rows, {type: "quantitative"})}}); });
      secondary.forEach(function (f) {
        spec.layer.push({mark: {type: "line", point: true, color: "#e45756"}, encoding: {x: x, y: channel(f, rows, {type: "quantitative"})}});
      });
      spec.resolve = {scale: {y: "independent"}};
      return spec;
    } else {
      spec.mark = {bar: "bar", line: {type: "line", point: true}, area: "area", scatter: "point"}[type];
      ["x", "y", "color", "size"].forEach(function (k) { if (enc[k] && enc[k].fieldName) e[k] = channel(enc[k], rows); });
    }
    e.tooltip = Object.keys(rows[0] || {}).filter(function (c) { return c.indexOf("__") !== 0; })
      .map(function (c) { return {field: escapeField(c)}; });
    spec.encoding = e;
    return spec;
  }

  function formatValue(v) {
    if (typeof v === "number") return Math.abs(v) >= 1000 ? v.toLocaleString("en-US", {maximumFractionDigits: 2}) : String(Math.round(v * 100) / 100);
    return v === null || v === undefined ? "" : String(v);
  }

  function drawCounter(body, spec, rows) {
    var enc = spec.encodings || {};
    var f = (enc.value || enc.period || {}).fieldName;
    var total = null;
    rows.forEach(function (r) { var v = r[f]; total = (typeof v === "number") ? (total || 0) + v : (total === null ? v : total); });
    body.appendChild(el("div", "lv-counter", formatValue(total)));
  }

  function drawTable(body, q, spec, rows) {
    var cols = ((spec.encodings || {}).columns || []).map(function (c) { return c.fieldName; });
    if (!cols.length) cols = (q.columns || []).filter(function (c) { return c.indexOf("__") !== 0; });
    var t = el("table", "lv-table"), head = el("tr");
    cols.forEach(function (c) { head.appendChild(el("th", "", c)); });
    t.appendChild(el("thead")).appendChild(head);
    var tb = el("tbody");
    rows.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) { tr.appendChild(el("td", "", formatValue(r[c]))); });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    body.appendChild(t);
    if (q.truncated) body.appendChild(el("p", "muted", "First " + rows.length + " rows (snapshot row cap)"));
  }

  function drawPivot(body, spec, rows) {
    var enc = spec.encodings || {};
    var rf = ((enc.rows || [])[0] || {}).fieldName, cf = ((enc.columns || [])[0] || {}).fieldName;
    var vf = (((enc.cell || {}).fields || [])[0] || {}).fieldName;
    var rk = [], ck = [], cells = {};
    rows.forEach(function (r) {
      var a = String(r[rf]), b = cf ? String(r[cf]) : "";
      if (rk.indexOf(a) < 0) rk.push(a);
      if (ck.indexOf(b) < 0) ck.push(b);
      cells[a + "\u0000" + b] = r[vf];
    });
    rk.sort(); ck.sort();
    var t = el("table", "lv-table lv-pivot"), head = el("tr");
    head.appendChild(el("th", "", rf));
    ck.forEach(function (c) { head.appendChild(el("th", "", c)); });
    t.appendChild(el("thead")).appendChild(head);
    var tb = el("tbody");
    rk.forEach(function (a) {
      var tr = el("tr");
      tr.appendChild(el("th", "", a));
      ck.forEach(function (b) { tr.appendChild(el("td", "", formatValue(cells[a + "\u0000" + b]))); });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    body.appendChild(t);
  }

  function drawText(body, text) {
    String(text || "").split("\n").forEach(function (line) {
      var m = /^(#{1,6})\s+(.*)$/.exec(line), node;
      if (m) node = el("h" + Math.min(6, m[1].length + 1), "", m[2]);
      else if (line.trim()) {
        node = el("p");
        line.split(/(\*\*[^*]+\*\*)/).forEach(function (part) {
          if (/^\*\*[^*]+\*\*$/.test(part)) node.appendChild(el("strong", "", part.slice(2, -2)));
          else node.appendChild(document.createTextNode(part.replace(/<[^>]*>/g, "")));
        });
      }
      if (node) body.appendChild(node);
    });
  }

  /* Parameter bindings of a filter widget: [{dataset, keyword}] from its parameter queries. */
  function parameterBindings(widget) {
    var out = [];
    (widget.queries || []).forEach(function (entry) {
      var query = entry.query || {};
      (query.parameters || []).forEach(function (p) {
        if (p && p.keyword) out.push({dataset: query.datasetName, keyword: p.keyword});
      });
    });
    return out;
  }
  function parameterDef(binding) {
    var ds = (def.datasets || []).filter(function (d) { return d.name === binding.dataset; })[0] || {};
    return (ds.parameters || []).filter(function (p) { return p.keyword === binding.keyword; })[0] || {};
  }
  function usedValue(binding, suffix) {
    var used = ((snap.datasets || {})[binding.dataset] || {}).parameters || {};
    var k = binding.keyword + (suffix ? "__" + suffix : "");
    var v = Object.prototype.hasOwnProperty.call(paramValues, binding.keyword + (suffix ? "." + suffix : ""))
      ? paramValues[binding.keyword + (suffix ? "." + suffix : "")] : used[k];
    return v === null || v === undefined ? "" : String(v);
  }
  function inputType(dataType) {
    var t = String(dataType || "STRING").toUpperCase();
    if (t === "DATE") return "date";
    if (t === "DATETIME" || t === "TIMESTAMP") return "datetime-local";
    if (t === "INTEGER" || t === "DECIMAL" || t === "DOUBLE" || t === "FLOAT" || t === "BIGINT") return "number";
    return "text";
  }

  /* A parameter filter: an input per parameter (two for a range) whose change re-runs the
     datasets on serve's live session; an exported snapshot can only show the values used. */
  function drawParameterFilter(body, widget, bindings, q) {
    var binding = bindings[0], pdef = parameterDef(binding);
    var isRange = pdef.complexType === "RANGE" || (widget.spec || {}).widgetType === "filter-date-range-picker";
    var label = ((widget.spec || {}).frame || {}).title || pdef.displayName || binding.keyword;
    function send(key, value) {
      paramValues[key] = value;
      liveQuery("parameter " + binding.keyword);
    }
    if (q && q.rows && q.rows.length && !isRange) {  // a dropdown of a field's values sets the parameter
      var select = el("select", "lv-param");
      select.setAttribute("aria-label", label);
      select.dataset.parameter = binding.keyword;
      var current = usedValue(binding);
      q.rows.forEach(function (r) {
        var v = r[0] === null ? "" : String(r[0]), o = el("option", "", v);
        o.value = v; o.selected = v === current; select.appendChild(o);
      });
      select.addEventListener("change", function () { send(binding.keyword, select.value); });
      body.appendChild(select);
    } else {
      (isRange ? ["min", "max"] : [""]).forEach(function (suffix) {
        var input = el("input", "lv-param");
        input.type = inputType(pdef.dataType);
        input.value = usedValue(binding, suffix).slice(0, input.type === "date" ? 10 : undefined);
        input.setAttribute("aria-label", label + (suffix ? " " + (suffix === "min" ? "from" : "to") : ""));
        input.dataset.parameter = binding.keyword + (suffix ? "." + suffix : "");
        input.addEventListener("change", function () { send(input.dataset.parameter, input.value); });
        body.appendChild(input);
      });
    }
    if (!liveEl) body.appendChild(el("p", "muted", "Computed with these values; changing them needs `lakeloom serve` " +
      "(or `lakeloom dashboards refresh <key> -p keyword=value`)."));
  }

  function drawFilter(body, widget, q) {
    var spec = widget.spec || {}, type = spec.widgetType;
    var bindings = parameterBindings(widget);
    if (bindings.length) { drawParameterFilter(body, widget, bindings, q); return; }
    var fieldEnc = ((spec.encodings || {}).fields || []).filter(function (f) { return f.fieldName; })[0];
    var column = fieldEnc ? fieldEnc.fieldName : (q && q.columns ? q.columns[0] : null);
    if (!q || !column) {
      body.appendChild(el("p", "muted", "Filter without a field: nothing to choose from in this snapshot."));
      return;
    }
    var values = (q.rows || []).map(function (r) { return r[0] === null ? "" : String(r[0]); });
    if (type === "filter-date-range-picker") {
      var from = el("input"), to = el("input");
      from.type = to.type = "date"; from.setAttribute("aria-label", column + " from"); to.setAttribute("aria-label", column + " to");
      var onRange = function () { selections[column] = {kind: "range", min: from.value, max: to.value}; filtersChanged(); };
      from.addEventListener("change", onRange); to.addEventListener("change", onRange);
      body.appendChild(from); body.appendChild(to);
      return;
    }
    var select = el("select", "lv-filter");
    select.setAttribute("aria-label", column);
    select.dataset.column = column;
    if (type === "filter-multi-select") select.multiple = true;
    else select.appendChild(el("option", "", "(all)")).value = "";
    values.forEach(function (v) { var o = el("option", "", v); o.value = v; select.appendChild(o); });
    select.addEventListener("change", function () {
      var chosen = Array.prototype.filter.call(select.options, function (o) { return o.selected && o.value !== ""; })
        .map(function (o) { return o.value; });
      selections[column] = {kind: "values", values: chosen};
      filtersChanged();
    });
    body.appendChild(select);
  }

  /* Field filters narrow the stored rows at once; when some widget's rows were cut at the
     snapshot's row cap (or its filter groups dropped to keep its aggregates exact), the exact
     answer needs the live session too. */
  function filtersChanged() {
    redraw();
    var truncated = Object.keys(snap.widgets || {}).some(function (name) {
      return ((snap.widgets[name] || {}).queries || []).some(function (q) { return q.truncated || q.filter_groups_cut; });
    });
    if (truncated) liveQuery("filter");
  }

  function liveFilters() {
    var out = {};
    Object.keys(selections).forEach(function (column) {
      var sel = selections[column];
      if (sel.kind === "values" && sel.values.length) out[column] = {values: sel.values};
      if (sel.kind === "range" && (sel.min || sel.max)) out[column] = {min: sel.min || null, max: sel.max || null};
    });
    return out;
  }

  var pending = 0;
  function liveQuery(why) {
    if (!liveEl) return;
    var mine = ++pending;
    if (statusEl) statusEl.textContent = "Querying the live session (" + why + ")\u2026";
    fetch(liveEl.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": liveEl.dataset.csrf},
      body: JSON.stringify({parameters: paramValues, filters: liveFilters()})
    }).then(function (res) {
      return res.json().then(function (data) { return {ok: res.ok, data: data}; });
    }).then(function (r) {
      if (mine !== pending) return;  // a newer query is on its way
      if (!r.ok) throw new Error(r.data.message || "live query failed");
      snap.widgets = r.data.widgets;
      snap.datasets = r.data.datasets;
      window.lakeview.live += 1;
      if (statusEl) statusEl.textContent = "Live result of " + r.data.refreshed_at + " (not stored; a refresh run stores one)";
      redraw();
    }).catch(function (err) {
      window.lakeview.liveErrors.push(String(err.message || err));
      if (statusEl) statusEl.textContent = "Live query failed: " + (err.message || err);
    });
  }

  var CHARTS = ["bar", "line", "area", "scatter", "pie", "heatmap", "histogram", "combo"];

  function drawWidget(box, widget) {
    var body = box.querySelector(".lv-body");
    body.textContent = "";
    var spec = widget.spec || {};
    var isText = widget.multilineTextboxSpec || (widget.textbox_spec !== undefined && widget.textbox_spec !== null);
    var type = isText ? "text" : (spec.widgetType || "unknown");
    box.dataset.type = type;
    var result = widgetResult(widget.name);
    if (type === "text") {
      var lines = (widget.multilineTextboxSpec || {}).lines;
      drawText(body, lines ? lines.join("") : widget.textbox_spec);
      return done(type);
    }
    if (result.error) {
      body.appendChild(el("div", "lv-error", result.error));
      return done(type);
    }
    var q = mainQuery(result);
    if (type.indexOf("filter-") === 0) { drawFilter(body, widget, q); return done(type); }
    if (type === "counter") { drawCounter(body, spec, q ? rowsFor(q) : []); return done(type); }
    if (type === "table") { drawTable(body, q || {}, spec, q ? rowsFor(q) : []); return done(type); }
    if (type === "pivot") { drawPivot(body, spec, q ? rowsFor(q) : []); return done(type); }
    if (CHARTS.indexOf(type) < 0) {
      body.appendChild(el("div", "lv-placeholder", "Widget type \u201c" + type + "\u201d is not drawn by lakeloom yet."));
      return done(type);
    }
    var chart = el("div", "lv-chart");
    body.appendChild(chart);
    var vl = chartSpec(type, spec.encodings || {}, q ? rowsFor(q) : []);
    vegaEmbed(chart, vl, {actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter,
                          defaultStyle: false, tooltip: false})
      .then(function (res) { views.push(res); done(type); })
      .catch(function (err) { body.appendChild(el("div", "lv-error", "chart failed: " + err)); window.lakeview.failed.push(widget.name); done(type); });
  }

  function done(type) {
    window.lakeview.drawn += 1;
    window.lakeview.types[type] = (window.lakeview.types[type] || 0) + 1;
  }

  function place(grid, item) {
    var w = item.widget || {}, pos = item.position || {};
    var box = el("section", "lv-widget");
    box.id = "w-" + w.name;
    box.dataset.widget = w.name;
    box.style.gridColumn = (pos.x || 0) + 1 + " / span " + (pos.width || 1);
    box.style.gridRow = (pos.y || 0) + 1 + " / span " + (pos.height || 1);
    var title = (w.spec && w.spec.frame && w.spec.frame.showTitle !== false) ? w.spec.frame.title : "";
    if (title) box.appendChild(el("h3", "lv-title", title));
    box.appendChild(el("div", "lv-body"));
    grid.appendChild(box);
    return box;
  }

  var current = 0, boxes = [];
  function showPage(index) {
    current = index;
    var grid = document.getElementById("lv-grid");
    grid.textContent = "";
    views.forEach(function (v) { v.finalize(); });
    views = [];
    window.lakeview.drawn = 0;
    window.lakeview.types = {};
    var page = pages[index] || {layout: []};
    var rows = page.layout.reduce(function (m, it) { var p = it.position || {}; return Math.max(m, (p.y || 0) + (p.height || 1)); }, 1);
    grid.style.gridTemplateRows = "repeat(" + rows + ", " + ROW_PX + "px)";
    boxes = page.layout.map(function (it) { return {box: place(grid, it), widget: it.widget || {}}; });
    boxes.forEach(function (b) { drawWidget(b.box, b.widget); });
    Array.prototype.forEach.call(document.querySelectorAll("#lv-pages button"), function (b, i) {
      b.classList.toggle("current", i === index);
    });
    window.lakeview.expected = boxes.length + globalBoxes;
  }

  function redraw() {
    boxes.forEach(function (b) {
      var t = b.box.dataset.type;
      if (t && t.indexOf("filter-") !== 0) drawWidget(b.box, b.widget);
    });
  }

  var nav = document.getElementById("lv-pages");
  pages.forEach(function (p, i) {
    var b = el("button", "", p.displayName || p.name);
    b.type = "button";
    b.addEventListener("click", function () { showPage(i); });
    nav.appendChild(b);
  });
  var globalBoxes = 0;
  var filterBar = document.getElementById("lv-filters");
  globalFilters.forEach(function (p) {
    (p.layout || []).forEach(function (it) {
      var box = el("section", "lv-widget lv-global");
      box.dataset.widget = (it.widget || {}).name;
      var spec = (it.widget || {}).spec || {};
      if (spec.frame && spec.frame.title) box.appendChild(el("h3", "lv-title", spec.frame.title));
      box.appendChild(el("div", "lv-body"));
      filterBar.appendChild(box);
      globalBoxes += 1;
      drawWidget(box, it.widget || {});
    });
  });
  var globalDrawn = window.lakeview.drawn;
  showPage(0);
  window.lakeview.drawn += globalDrawn;
  window.lakeview.ready = true;
})();
