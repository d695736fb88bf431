// What the browser tests share: launching Debian's Chromium headless the way this machine needs
// (no sandbox as root, no background networking: the network is closed).

import { chromium } from "playwright-core";

/** Launches headless Chromium; `extraArgs` are added to the fixed flags. */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}
