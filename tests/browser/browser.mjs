// What the browser tests share: launching Debian's Chromium headless the way this machine needs
// (no sandbox as root, no background networking: the network is closed).

import { chromium } from "playwright-core";

/**
 * Launches headless Chromium; `extraArgs` are added to the fixed flags. A fresh CI machine's first
 * launch reads the whole browser from a cold disk and has been seen to take over 30 s, so each try
 * gets 90 s and a timed-out launch is tried once more before the test fails.
 */
export async function launchChromium(extraArgs = []) {
  try {
    return await launchOnce(extraArgs);
  } catch (error) {
    if (error?.name !== "TimeoutError") throw error;
    console.error(`# chromium launch timed out, trying once more: ${error.message.split("\n")[0]}`);
    return launchOnce(extraArgs);
  }
}

function launchOnce(extraArgs) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: 90_000,
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
