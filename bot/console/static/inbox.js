// The inbox's live updates (served from our own origin; the CSP forbids inline code).
// One EventSource per page: on each "change" the list and the thread are fetched again as
// server-rendered fragments, at most every half second. The reply box is never replaced, so
// typing is never lost. Without this script every page still works by reloading.
document.addEventListener("DOMContentLoaded", function () {
  var live = document.querySelector("[data-events]");
  if (!live || !window.EventSource) { return; }
  var parts = ["inbox-list", "thread"].map(function (id) { return document.getElementById(id); })
    .filter(function (el) { return el && el.dataset.src; });
  var pending = null;
  function refresh() {
    pending = null;
    parts.forEach(function (el) {
      fetch(el.dataset.src, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) {
          if (r.redirected || r.status === 401) { window.location.reload(); return null; }
          if (r.status === 404) { window.location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) { if (html !== null && html !== undefined) { el.innerHTML = html; } })
        .catch(function () {});
    });
    document.body.dataset.updated = String(Date.now());
  }
  function listen() {
    var source = new EventSource(live.dataset.events);
    source.addEventListener("change", function () {
      if (!pending) { pending = setTimeout(refresh, 300); }
    });
    // A stream that cannot reconnect (signed out: the answer is the sign-in page) is closed
    // for good: the next fetch finds the sign-in page and reloads; else listen again later.
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) { refresh(); setTimeout(listen, 10000); }
    });
  }
  listen();
  var canned = document.getElementById("canned");
  var text = document.getElementById("reply-text");
  if (canned && text) {
    canned.addEventListener("change", function () {
      var chosen = canned.options[canned.selectedIndex];
      if (chosen && chosen.dataset.text) { text.value = chosen.dataset.text; text.focus(); }
    });
  }
});
