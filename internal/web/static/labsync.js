// labsync UI: copy buttons, the install form's sections, live sync progress.
// Everything works without this script except the live bars and copying.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.copy");
    if (!b) return;
    var field = document.getElementById(b.dataset.copy);
    if (!field) return;
    field.select();
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  });

  var form = document.getElementById("connect-form");
  if (form) {
    var sync = function () {
      var m = form.querySelector("input[name=method]:checked");
      var h = form.querySelector("input[name=hosting]:checked");
      form.dataset.method = m ? m.value : "oauth";
      form.dataset.hosting = h ? h.value : "gitlab.com";
    };
    form.addEventListener("change", sync);
    sync();
  }

  var sec = document.getElementById("sync");
  if (sec && sec.dataset.stream && window.EventSource) {
    var es = new EventSource(sec.dataset.stream);
    var live = document.getElementById("sync-live");
    var st0 = document.getElementById("sync-state");
    var lastState = st0 ? st0.textContent : "";
    es.addEventListener("progress", function (ev) {
      var p; try { p = JSON.parse(ev.data); } catch (x) { return; }
      // A sync that just finished, or a resource the page has no bar for
      // yet: reload once so the counts, bars and problems are all current.
      var bars = p.bars || [];
      var missing = bars.some(function (b) {
        return !sec.querySelector('.bar[data-resource="' + b.resource + '"]');
      });
      if (missing || (lastState && lastState !== "idle" && p.state === "idle")) {
        // Reload without a one-time ?notice= (the "queued" notice is stale once the sync ends).
        es.close(); window.location.replace(window.location.pathname + window.location.hash); return;
      }
      var st = document.getElementById("sync-state");
      if (st) st.textContent = p.state;
      bars.forEach(function (b) {
        var row = sec.querySelector('.bar[data-resource="' + b.resource + '"]');
        if (!row) return;
        var bar = row.querySelector("progress"), c = row.querySelector(".count");
        bar.value = b.percent; bar.textContent = b.percent + "%";
        c.textContent = b.text;
      });
      var stored = document.getElementById("stored-counts");
      if (stored && p.stored) stored.textContent = p.stored;
      if (live && p.state !== lastState) { live.textContent = "Sync " + p.state; lastState = p.state; }
    });
  }
})();
