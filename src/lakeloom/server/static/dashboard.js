/* lakeloom dashboard: live regions, log tail, local times, task deep links.
 *
 * No framework and no build step. Pages work without this script; it only adds:
 *  - live regions: an element with data-live="1" and data-live-url is re-fetched every
 *    POLL_MS while it says it is live (a run is active) and the tab is visible, and
 *    replaced by the server's fresh rendering; polling stops when the server answers
 *    with data-live="0", so an idle page makes no requests;
 *  - the log viewer's live tail (bytes after data-offset, appended as text);
 *  - <time datetime> shown in the browser's time zone;
 *  - run_page_url deep links (#task-<task run id>) opening that attempt.
 * Server HTML is inserted through DOMParser (scripts in it never run) and log text as
 * text nodes, never as markup.
 */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var TAIL_MS = 1000;

  function localizeTimes(root) {
    var els = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        els[i].title = els[i].textContent;
        els[i].textContent = d.toLocaleString([], {year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit"});
      }
    }
  }

  function get(url, onOk, onDone) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url, true);
    xhr.setRequestHeader("X-Requested-With", "lakeloom");
    xhr.onload = function () {
      if (xhr.status === 401) { window.location.reload(); return; }
      if (xhr.status === 200) { onOk(xhr.responseText); }
      if (onDone) { onDone(xhr.status); }
    };
    xhr.onerror = function () { if (onDone) { onDone(0); } };
    xhr.send();
  }

  function pollRegion(el) {
    var url = el.getAttribute("data-live-url");
    if (!url || el.getAttribute("data-live") !== "1") { return; }
    window.setTimeout(function () {
      if (!document.body.contains(el)) { return; }
      if (document.hidden) { pollRegion(el); return; }
      get(url, function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.body.firstElementChild;
        if (!fresh) { return; }
        var openIds = [];
        var opened = el.querySelectorAll("details[open][id]");
        for (var i = 0; i < opened.length; i++) { openIds.push(opened[i].id); }
        fresh = document.importNode(fresh, true);
        el.replaceWith(fresh);
        for (var j = 0; j < openIds.length; j++) {
          var d = document.getElementById(openIds[j]);
          if (d) { d.open = true; }
        }
        localizeTimes(fresh);
        syncLog(fresh);
        pollRegion(fresh);
      }, function (status) {
        if (status !== 200 && status !== 401) { pollRegion(el); }  // transient error: try again
      });
    }, POLL_MS);
  }

  function tailLog(pre) {
    var url = pre.getAttribute("data-tail-url");
    if (!url) { return; }
    var active = pre.getAttribute("data-active") === "1";
    if (!active) { return; }
    window.setTimeout(function step() {
      if (document.hidden) { window.setTimeout(step, TAIL_MS); return; }
      var offset = pre.getAttribute("data-offset") || "0";
      get(url + "?offset=" + encodeURIComponent(offset), function (body) {
        var data = JSON.parse(body);
        var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
        if (data.text) {
          pre.appendChild(document.createTextNode(data.text));
          var empty = document.getElementById("log-empty");
          if (empty) { empty.remove(); }
          if (atBottom) { pre.scrollTop = pre.scrollHeight; }
        }
        pre.setAttribute("data-offset", String(data.offset));
        if (data.active || data.text) {
          window.setTimeout(step, TAIL_MS);
        } else {
          pre.setAttribute("data-active", "0");
        }
      }, function (status) {
        if (status !== 200 && status !== 401) { window.setTimeout(step, TAIL_MS * 3); }
      });
    }, TAIL_MS);
  }

  /* The live panel may move on to a newer attempt (a retry, a repair): show that
   * attempt's log too, unless the reader is looking at search results. */
  function syncLog(region) {
    var panel = region.querySelector("[data-selected-attempt]");
    var section = document.getElementById("log-section");
    var wanted = panel ? panel.getAttribute("data-selected-attempt") : "";
    if (!wanted || (section && section.getAttribute("data-attempt") === wanted)) { return; }
    if (new URLSearchParams(window.location.search).get("q")) { return; }
    get(window.location.pathname + "?attempt=" + encodeURIComponent(wanted), function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("log-section");
      if (!fresh) { return; }
      fresh = document.importNode(fresh, true);
      var current = document.getElementById("log-section");
      if (current) { current.replaceWith(fresh); } else { region.after(fresh); }
      var pre = document.getElementById("log");
      if (pre) { pre.scrollTop = pre.scrollHeight; tailLog(pre); }
    });
  }

  function followTaskAnchor() {
    var m = /^#task-(\d+)$/.exec(window.location.hash);
    if (!m || !/^\/runs\/\d+$/.test(window.location.pathname)) { return false; }
    var params = new URLSearchParams(window.location.search);
    if (params.get("attempt") === m[1]) { return false; }
    params.set("attempt", m[1]);
    params.delete("task");
    window.location.replace(window.location.pathname + "?" + params.toString() + "#attempt-" + m[1]);
    return true;
  }

  function keepHashOnLogin() {
    var next = document.getElementById("next");
    if (next && window.location.hash && next.value.indexOf("#") < 0) {
      next.value = next.value + window.location.hash;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (followTaskAnchor()) { return; }
    keepHashOnLogin();
    localizeTimes(document);
    var regions = document.querySelectorAll(".live-region[data-live='1']");
    for (var i = 0; i < regions.length; i++) { pollRegion(regions[i]); }
    var log = document.getElementById("log");
    if (log) {
      log.scrollTop = log.scrollHeight;
      tailLog(log);
    }
  });
})();
