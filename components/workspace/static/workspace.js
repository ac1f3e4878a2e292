/* Agent workspace: live updates over server-sent events. The queue and the transcript are
 * server-rendered (autoescaped) fragments fetched again when the server says something changed;
 * the page title carries the number of unclaimed hand-offs. */
(function () {
  "use strict";
  var body = document.body;
  var base = body.getAttribute("data-base");
  var live = body.getAttribute("data-live");
  if (!live || !window.EventSource) return;

  function fetchInto(url, element, after) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { element.innerHTML = html; if (after) after(); })
      .catch(function () {});
  }

  function setState(text) {
    var state = document.getElementById("live-state");
    if (state) state.textContent = text;
  }

  if (live === "queue") {
    var rows = document.getElementById("queue-rows");
    var firstQueue = true;
    var queue = new EventSource(base + "/queue/events");
    queue.addEventListener("queue", function (event) {
      var data = JSON.parse(event.data);
      document.title = (data.unclaimed ? "(" + data.unclaimed + ") " : "") + "Queue - Agent workspace";
      body.setAttribute("data-unclaimed", String(data.unclaimed));
      if (!firstQueue) fetchInto(base + "/queue/rows", rows);
      firstQueue = false;
      setState("live");
    });
    queue.onerror = function () { setState("reconnecting…"); };
  }

  if (live === "conversation") {
    var sender = body.getAttribute("data-sender");
    var turns = document.getElementById("turns");
    var url = base + "/conversations/" + encodeURIComponent(sender);
    var known = null;
    var stream = new EventSource(url + "/events");
    stream.addEventListener("conversation", function (event) {
      var data = JSON.parse(event.data);
      var tickets = JSON.stringify(data.tickets);
      if (known && known.tickets !== tickets) {
        var draft = document.getElementById("reply-text");
        if (!draft || !draft.value) { window.location.reload(); return; }
      }
      if (known && known.events !== data.events) {
        fetchInto(url + "/turns", turns, function () { body.setAttribute("data-events", String(data.events)); });
      } else {
        body.setAttribute("data-events", String(data.events));
      }
      known = { events: data.events, tickets: tickets };
    });
  }
})();
