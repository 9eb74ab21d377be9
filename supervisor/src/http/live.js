// Keeps a 436 page live: every few seconds, fetch the same page again and
// swap its <main>. No outside fetch, no framework; without JavaScript the
// page is the same, only static.
(function () {
  "use strict";
  var EVERY_MS = 5000;
  function refresh() {
    var active = document.activeElement;
    if (document.hidden || (active && active.form) ||
        document.querySelector("main details[open]")) {
      // Not while hidden, while the operator is typing (a filter, a note)
      // or has opened a form to change a note.
      return;
    }
    // Without the user name and password a login typed into the address
    // leaves there: fetch refuses an address that holds them.
    var here = new URL(location.href);
    here.username = "";
    here.password = "";
    fetch(here.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        var next = new DOMParser().parseFromString(text, "text/html");
        var fresh = next.querySelector("main");
        var current = document.querySelector("main");
        if (fresh && current) { current.innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* supervisor restarting: try again later */ });
  }
  setInterval(refresh, EVERY_MS);
})();
