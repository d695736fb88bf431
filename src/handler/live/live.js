// mioserve live reload: follows the server's change events and reloads the page, or swaps its
// stylesheets when only stylesheets changed. One connection per origin: a SharedWorker holds the
// event stream and relays it to every tab; where there is no SharedWorker, each tab holds its own.
(() => {
  "use strict";
  const EVENTS = "/__mioserve/live";
  // Every same-origin stylesheet is fetched again under a new query; the old sheet stays until
  // the new one has loaded, so the page never shows unstyled.
  const swapStylesheets = () => {
    const stamp = String(Date.now());
    for (const link of document.querySelectorAll('link[rel~="stylesheet"][href]')) {
      const url = new URL(link.href, location.href);
      if (url.origin !== location.origin) continue;
      url.searchParams.set("__mioserve", stamp);
      const next = link.cloneNode();
      next.href = url.href;
      next.addEventListener("load", () => link.remove(), { once: true });
      next.addEventListener("error", () => next.remove(), { once: true });
      link.after(next);
    }
  };
  const apply = (change) => {
    if (change === "css") swapStylesheets();
    else location.reload();
  };
  if (typeof SharedWorker === "function") {
    try {
      const worker = new SharedWorker("/__mioserve/live-worker.js", { name: "mioserve-live" });
      worker.port.onmessage = (event) => apply(event.data);
      worker.port.start();
      addEventListener("pagehide", () => worker.port.postMessage("bye"));
      return;
    } catch (_) {
      // A worker the page may not start (a sandboxed frame, say): one stream for this tab.
    }
  }
  let opened = false;
  const events = new EventSource(EVENTS);
  // A second `open` is a reconnection: the server restarted, and the page may be stale.
  events.addEventListener("open", () => {
    if (opened) location.reload();
    opened = true;
  });
  events.addEventListener("reload", () => apply("reload"));
  events.addEventListener("css", () => apply("css"));
})();
