// Real-browser checks of caching and partial content (issue 4): a <video> served by mioserve seeks
// to its middle and plays from there over Range requests (206), and reloading the demo site
// revalidates its files and gets 304s. The server's access log (stdout) is the record of what the
// browser asked for. Run through ./run.sh.

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

/** Starts mioserve with its access log on; resolves with its URL and the log lines so far. */
function startLoggingServer(root) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [root, "-p", "0", "--access-log", "common", "--no-stats"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const log = [];
    const timer = setTimeout(() => reject(new Error("mioserve did not start")), TIMEOUT);
    child.on("error", reject);
    let url;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (url) return log.push(line);
      clearTimeout(timer);
      const match = line.match(/(http:\/\/\S+\/)$/);
      if (!match) return reject(new Error(`no URL in ${JSON.stringify(line)}`));
      url = match[1];
      resolve({ child, url, log });
    });
  });
}

/** Stops the server with SIGTERM, so its access log is flushed, and waits for it to exit. */
function stopServer(server) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.child.kill("SIGKILL");
      resolve();
    }, TIMEOUT);
    server.child.on("exit", () => {
      clearTimeout(timer);
      // Let the line reader take the last flushed lines.
      setTimeout(resolve, 100);
    });
    server.child.kill("SIGTERM");
  });
}

/** Access-log lines for `target` with `status`. */
function logged(server, target, status) {
  return server.log.filter((l) => l.includes(`"GET ${target} HTTP/1.1" ${status} `));
}

let browser;
let videoRoot;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  videoRoot = fs.mkdtempSync(path.join(os.tmpdir(), "mioserve-video-"));
  fs.copyFileSync(path.join(repo, "tests/fixtures/clip.webm"), path.join(videoRoot, "clip.webm"));
  fs.writeFileSync(
    path.join(videoRoot, "index.html"),
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>clip</title>' +
      '<link rel="icon" href="data:,"></head>' +
      '<body><video id="v" src="clip.webm" preload="metadata" muted width="320"></video></body></html>\n',
  );
  browser = await launchChromium(["--autoplay-policy=no-user-gesture-required"]);
});

after(async () => {
  await browser?.close();
  if (videoRoot) fs.rmSync(videoRoot, { recursive: true, force: true });
});

test("a <video> seeks to its middle and plays from there over 206 responses", async () => {
  const server = await startLoggingServer(videoRoot);
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(server.url);
    const duration = await page.$eval("#v", (v) =>
      v.readyState >= 1
        ? v.duration
        : new Promise((ok, fail) => {
            v.addEventListener("loadedmetadata", () => ok(v.duration), { once: true });
            v.addEventListener("error", () => fail(new Error(`video error ${v.error?.code}`)), { once: true });
          }),
    );
    assert.ok(duration > 3.5 && duration < 4.5, `duration ${duration}`);
    const middle = duration / 2;
    // Seek, then play: playback must go on from the middle, not from the start.
    const reached = await page.$eval(
      "#v",
      (v, middle) =>
        new Promise((ok, fail) => {
          v.addEventListener("error", () => fail(new Error(`video error ${v.error?.code}`)), { once: true });
          v.addEventListener(
            "seeked",
            () => {
              v.play().catch(fail);
              const check = () => (v.currentTime > middle + 0.3 ? ok(v.currentTime) : null);
              v.addEventListener("timeupdate", check);
            },
            { once: true },
          );
          v.currentTime = middle;
        }),
      middle,
    );
    assert.ok(reached > middle && reached <= duration, `played to ${reached}`);
    await page.screenshot({ path: path.join(shots, "video-seek.png") });
    await page.close();
  } finally {
    await stopServer(server);
  }
  const partial = logged(server, "/clip.webm", 206);
  assert.ok(partial.length > 0, `no 206 for the clip in:\n${server.log.join("\n")}`);
});

test("reloading the demo site revalidates its files and gets 304s", async () => {
  const server = await startLoggingServer(path.join(repo, "public"));
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(server.url, { waitUntil: "load" });
    await page.reload({ waitUntil: "load" });
    await context.close();
  } finally {
    await stopServer(server);
  }
  for (const target of ["/style.css", "/app.js", "/logo.svg"]) {
    assert.ok(logged(server, target, 200).length >= 1, `${target} first load:\n${server.log.join("\n")}`);
    assert.ok(logged(server, target, 304).length >= 1, `${target} not revalidated:\n${server.log.join("\n")}`);
  }
});
