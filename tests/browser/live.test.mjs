// Real-browser checks of live reload (issue 22): editing a served page reloads it, editing a
// stylesheet restyles the page without a reload, and eight tabs of one origin all load and all
// follow an edit (one shared event stream, so the seventh tab does not hang on Chromium's six
// connections per host). Run through ./run.sh.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./browser.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const bin = process.env.MIOSERVE_BIN || path.join(repo, "target/debug/mioserve");
const shots = process.env.SCREENSHOT_DIR || path.join(repo, "target/screenshots");
const TIMEOUT = 15_000;

/** Starts mioserve --live-reload on `root`; resolves with its URL. */
function startServer(root) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [root, "-p", "0", "--live-reload", "-q", "--no-stats"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const timer = setTimeout(() => reject(new Error("mioserve did not start")), TIMEOUT);
    child.on("error", reject);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const match = line.match(/(http:\/\/\S+\/)$/);
      if (!match) return reject(new Error(`no URL in ${JSON.stringify(line)}`));
      resolve({ child, url: match[1] });
    });
  });
}

function page(title, body) {
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
    '<link rel="icon" href="data:,"><link rel="stylesheet" href="site.css"></head>' +
    `<body>${body}</body></html>\n`
  );
}

let browser;
let root;
let server;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  root = fs.mkdtempSync(path.join(os.tmpdir(), "mioserve-live-"));
  fs.writeFileSync(path.join(root, "index.html"), page("v1", '<h1 id="h">one</h1>'));
  fs.writeFileSync(path.join(root, "site.css"), "h1 { color: rgb(255, 0, 0); }\n");
  server = await startServer(root);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.child.kill("SIGKILL");
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** Waits until the page's live reload script is connected (its stream sent `retry:`). */
async function connected(tab) {
  // The script is deferred; the shared worker opens the stream once the page has run it. A tab
  // that has loaded it is ready once the worker's stream is open: give it a moment, bounded.
  await tab.waitForFunction(() => document.readyState === "complete", null, { timeout: TIMEOUT });
  await tab.waitForTimeout(500);
}

test("editing the page reloads it", async () => {
  const tab = await browser.newPage();
  await tab.goto(server.url, { timeout: TIMEOUT });
  assert.equal(await tab.textContent("#h"), "one");
  await connected(tab);
  await tab.evaluate(() => {
    window.survivor = "before";
  });
  fs.writeFileSync(path.join(root, "index.html"), page("v2", '<h1 id="h">two</h1>'));
  await tab.waitForFunction(() => document.getElementById("h")?.textContent === "two", null, {
    timeout: TIMEOUT,
  });
  assert.equal(await tab.evaluate(() => window.survivor), undefined, "the page was reloaded");
  await tab.screenshot({ path: path.join(shots, "live-reload-page.png") });
  await tab.close();
});

test("editing the stylesheet restyles the page without a reload", async () => {
  const tab = await browser.newPage();
  await tab.goto(server.url, { timeout: TIMEOUT });
  await connected(tab);
  const color = () => tab.evaluate(() => getComputedStyle(document.getElementById("h")).color);
  assert.equal(await color(), "rgb(255, 0, 0)");
  await tab.evaluate(() => {
    window.survivor = "kept";
  });
  fs.writeFileSync(path.join(root, "site.css"), "h1 { color: rgb(0, 0, 255); }\n");
  await tab.waitForFunction(
    () => getComputedStyle(document.getElementById("h")).color === "rgb(0, 0, 255)",
    null,
    { timeout: TIMEOUT },
  );
  assert.equal(await tab.evaluate(() => window.survivor), "kept", "no reload for a stylesheet");
  await tab.close();
});

test("eight tabs of one origin all load and all follow an edit", async () => {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 8; i++) {
    const tab = await context.newPage();
    await tab.goto(server.url, { timeout: TIMEOUT });
    tabs.push(tab);
  }
  for (const tab of tabs) await connected(tab);
  fs.writeFileSync(path.join(root, "index.html"), page("v3", '<h1 id="h">three</h1>'));
  await Promise.all(
    tabs.map((tab) =>
      tab.waitForFunction(() => document.getElementById("h")?.textContent === "three", null, {
        timeout: TIMEOUT,
      }),
    ),
  );
  await context.close();
});
