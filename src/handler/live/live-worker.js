// mioserve live reload, shared by every tab of one origin: one event stream, relayed to each tab.
"use strict";
const tabs = new Set();
const relay = (change) => {
  for (const tab of tabs) tab.postMessage(change);
};
let opened = false;
const events = new EventSource("/__mioserve/live");
// A second `open` is a reconnection: the server restarted, and the pages may be stale.
events.addEventListener("open", () => {
  if (opened) relay("reload");
  opened = true;
});
events.addEventListener("reload", () => relay("reload"));
events.addEventListener("css", () => relay("css"));
onconnect = (event) => {
  const tab = event.ports[0];
  tab.onmessage = (message) => {
    if (message.data === "bye") tabs.delete(tab);
  };
  tabs.add(tab);
  tab.start();
};
