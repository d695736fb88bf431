// Real-browser test of folder downloads: Chromium clicks the listing's "zip" and "tar" links, saves
// what the server streams, and the saved archives list the folder's files. Run through ./run.sh.
//
// Environment: MIOSERVE_BIN (the binary to run), SCREENSHOT_DIR (where the PNGs go).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
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

/** Every bound on a wait: a broken server fails the test instead of hanging it. */
const TIMEOUT = 15_000;

/** The folder offered for download, by path below it, with contents. */
const FILES = {
  "notes.md": "# Notes\n",
  "data/numbers.csv": "1,2,3\n",
  "data/deep/blob.bin": "x".repeat(200_000),
  "Ünïcødé name.txt": "unicode\n",
};

function startServer(root, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [root, "-p", "0", "-q", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const timer = setTimeout(() => reject(new Error("mioserve did not start")), TIMEOUT);
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`mioserve exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const match = line.match(/(http:\/\/\S+\/)$/);
      if (!match) return reject(new Error(`no URL in ${JSON.stringify(line)}`));
      resolve({ child, url: match[1] });
    });
  });
}

/** Names of the entries in a zip file, read from its central directory (APPNOTE §4.3.12). */
function zipNames(bytes) {
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end--;
  assert.ok(end >= 0, "no end of central directory record");
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const names = [];
  for (let i = 0; i < count; i++) {
    assert.equal(bytes.readUInt32LE(at), 0x02014b50, `central directory entry ${i}`);
    const nameLen = bytes.readUInt16LE(at + 28);
    const extraLen = bytes.readUInt16LE(at + 30);
    const commentLen = bytes.readUInt16LE(at + 32);
    names.push(bytes.subarray(at + 46, at + 46 + nameLen).toString("utf8"));
    at += 46 + nameLen + extraLen + commentLen;
  }
  return names;
}

let browser;
let fixture;
let server;
let downloads;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  fixture = fs.mkdtempSync(path.join(os.tmpdir(), "mioserve-archive-"));
  for (const [name, data] of Object.entries(FILES)) {
    const file = path.join(fixture, "share", name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  }
  fs.writeFileSync(path.join(fixture, "share", ".hidden"), "not offered\n");
  downloads = fs.mkdtempSync(path.join(os.tmpdir(), "mioserve-downloads-"));
  server = await startServer(fixture);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (server) {
    server.child.removeAllListeners("exit");
    server.child.kill();
  }
  for (const dir of [fixture, downloads]) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Opens the listing of /share/, clicks the link named `format`, returns the saved file. */
async function download(format) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  try {
    const response = await page.goto(server.url + "share/");
    assert.equal(response.status(), 200);
    const link = page.getByRole("link", { name: format, exact: true });
    assert.equal(await link.getAttribute("href"), `?download=${format}`);
    if (format === "zip") {
      await page.screenshot({ path: path.join(shots, "listing-download-links.png") });
    }
    const [saved] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.equal(saved.suggestedFilename(), `share.${format}`);
    assert.equal(await saved.failure(), null, "the download failed");
    const file = path.join(downloads, saved.suggestedFilename());
    await saved.saveAs(file);
    assert.deepEqual(problems, []);
    return file;
  } finally {
    await context.close();
  }
}

const want = ["share/", ...Object.keys(FILES).map((name) => `share/${name}`)];

test("download: the listing's zip link saves a zip of the folder", async () => {
  const names = zipNames(fs.readFileSync(await download("zip")));
  for (const name of want) assert.ok(names.includes(name), `${name} missing: ${names.join(" | ")}`);
  assert.ok(names.includes("share/data/deep/"), names.join(" | "));
  assert.ok(!names.some((n) => n.includes(".hidden")), "hidden names stay out");
});

test("download: the listing's tar link saves a tar of the folder", async () => {
  const listed = execFileSync("tar", ["-tf", await download("tar")], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((n) => n.replace(/\/$/, ""));
  for (const name of want) {
    assert.ok(listed.includes(name.replace(/\/$/, "")), `${name} missing: ${listed.join(" | ")}`);
  }
  assert.ok(!listed.some((n) => n.includes(".hidden")), "hidden names stay out");
  // The contents too, byte for byte, as tar itself extracts them.
  const out = fs.mkdtempSync(path.join(downloads, "x-"));
  execFileSync("tar", ["-xf", path.join(downloads, "share.tar"), "-C", out]);
  for (const [name, data] of Object.entries(FILES)) {
    assert.equal(fs.readFileSync(path.join(out, "share", name), "utf8"), data, name);
  }
});
