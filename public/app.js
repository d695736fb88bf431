/* mioserve demo: show the Server header, the address and load time, add copy buttons.
   Must never throw: everything is guarded and failures are silent. */
(function () {
  "use strict";

  function $(id) {
    try { return document.getElementById(id); } catch (e) { return null; }
  }

  // "Served by <Server header>" via a same-origin HEAD request.
  function showServer() {
    var el = $("served-by");
    if (!el || typeof fetch !== "function") return;
    if (!/^https?:$/.test(location.protocol)) return;
    try {
      fetch(location.href, { method: "HEAD", cache: "no-store" })
        .then(function (res) {
          var server = res && res.headers ? res.headers.get("Server") : null;
          if (server) el.textContent = "Served by " + server;
          // Drain the (empty) body so the request completes cleanly.
          return res.text();
        })
        .catch(function () { /* offline or blocked: keep default text */ });
    } catch (e) { /* ignore */ }
  }

  // Page load time from the Navigation Timing API.
  function showLoadTime() {
    var el = $("load-time");
    if (!el || !window.performance) return;
    try {
      var ms = null;
      var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
      if (nav && nav.loadEventStart > 0) {
        ms = nav.loadEventStart;
      } else if (performance.timing && performance.timing.loadEventStart > 0) {
        ms = performance.timing.loadEventStart - performance.timing.navigationStart;
      } else if (performance.now) {
        ms = performance.now();
      }
      if (ms !== null && isFinite(ms)) {
        el.textContent = "Page loaded in " + Math.round(ms) + " ms";
        el.hidden = false;
      }
    } catch (e) { /* ignore */ }
  }

  function legacyCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand && document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok;
  }

  function flash(btn, label) {
    btn.textContent = label;
    btn.classList.add("done");
    setTimeout(function () {
      btn.textContent = "Copy";
      btn.classList.remove("done");
    }, 1500);
  }

  // A "Copy" button on every code block.
  function addCopyButtons() {
    var blocks = document.querySelectorAll("pre > code");
    for (var i = 0; i < blocks.length; i++) {
      (function (code) {
        var pre = code.parentNode;
        if (!pre || !pre.parentNode) return;
        var wrap = document.createElement("div");
        wrap.className = "code";
        pre.parentNode.insertBefore(wrap, pre);
        wrap.appendChild(pre);

        var btn = document.createElement("button");
        btn.type = "button";
        btn.className = "copy";
        btn.textContent = "Copy";
        btn.setAttribute("aria-label", "Copy command to clipboard");
        btn.addEventListener("click", function () {
          try {
            var text = code.textContent || "";
            if (navigator.clipboard && navigator.clipboard.writeText) {
              navigator.clipboard.writeText(text).then(
                function () { flash(btn, "Copied"); },
                function () { if (legacyCopy(text)) flash(btn, "Copied"); }
              );
            } else if (legacyCopy(text)) {
              flash(btn, "Copied");
            }
          } catch (e) { /* fail silently */ }
        });
        wrap.appendChild(btn);
      })(blocks[i]);
    }
  }

  // The commands name the default address; show the one this page was actually served from
  // (the folder of this page, so a demo served below / gets the right path too).
  function showAddress() {
    if (!/^https?:$/.test(location.protocol)) return;
    var here = new URL(".", location.href).href;
    var blocks = document.querySelectorAll("code[data-here]");
    for (var i = 0; i < blocks.length; i++) {
      blocks[i].textContent = blocks[i].textContent.split("http://127.0.0.1:8080/").join(here);
    }
  }

  try { showAddress(); } catch (e) { /* ignore */ }
  try { addCopyButtons(); } catch (e) { /* ignore */ }
  try { showServer(); } catch (e) { /* ignore */ }

  // loadEventStart is only known once the load event fires.
  try {
    if (document.readyState === "complete") {
      showLoadTime();
    } else {
      window.addEventListener("load", function () { setTimeout(showLoadTime, 0); });
    }
  } catch (e) { /* ignore */ }
})();
