// scimgate console: local times, copy buttons, confirmations, sync progress. Everything works without it.
(function () {
  "use strict";

  // Times: the server writes <time datetime="...Z">UTC text</time>; show them in the
  // viewer's time zone, in the same layout, with the UTC text kept as the tooltip.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") { return parts[i].value; }
      }
    } catch (e) { /* no Intl: the offset below */ }
    var offset = -date.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return "UTC" + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }
  function localTime(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + " " +
      zoneName(date);
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var t = 0; t < times.length; t++) {
    var at = new Date(times[t].getAttribute("datetime"));
    if (isNaN(at.getTime())) { continue; }
    times[t].title = times[t].textContent;
    times[t].textContent = localTime(at);
  }

  // The menu is open on wide screens; on a phone it starts folded.
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia("(max-width: 40rem)").matches) { menu.removeAttribute("open"); }

  function announce(text) {
    var live = document.querySelector(".copied");
    if (live) { live.textContent = text; }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    input.select();
    var label = input.labels && input.labels[0] ? input.labels[0].textContent : "Value";
    var done = function () { announce(label + " copied to the clipboard."); button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    var submit = form.querySelector("button[type=submit][data-busy]");
    if (submit) { submit.disabled = true; submit.textContent = submit.getAttribute("data-busy"); }
  });

  // A running synchronization: poll its progress and reload when it is done.
  var progress = document.querySelector("[data-progress-url]");
  if (progress) {
    var url = progress.getAttribute("data-progress-url");
    var bar = progress.querySelector("progress");
    var text = progress.querySelector(".progress-text");
    var tick = function () {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (state) {
          if (state.status !== "running") { window.location.reload(); return; }
          if (bar && state.total) { bar.max = state.total; bar.value = state.done; }
          if (text) { text.textContent = state.done + " of " + state.total + " users processed"; }
          window.setTimeout(tick, 1000);
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    };
    window.setTimeout(tick, 700);
  }
})();
