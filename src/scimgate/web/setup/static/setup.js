// scimgate setup: refresh the connection status every few seconds. The page works without it.
(function () {
  "use strict";
  var box = document.querySelector("[data-status-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var tick = function () {
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; window.setTimeout(tick, 5000); })
      .catch(function () { /* a refused link or a network error: stop polling */ });
  };
  window.setTimeout(tick, 5000);
})();
