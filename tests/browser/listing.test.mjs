// Real-browser test: headless Debian Chromium, driven by playwright-core, against real mioserve
// processes. Run through ./run.sh, which installs what is missing and builds the binary.
//
// Environment: MIOSERVE_BIN (the binary to run), SCREENSHOT_DIR (where the PNGs go).

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

const UNICODE_DIR = "Ünïcødé folder";
const UNICODE_FILE = "hello wörld.txt";
const GREETING = "Hello from a folder with a Unicode name.";

/** Every bound on a wait: a broken server fails the test instead of hanging it. */
const TIMEOUT = 10_000;

/** Starts mioserve on `root`, port 0; resolves with its URL once it printed it. */
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

/** A folder to browse: a Unicode-named subfolder, files of distinct sizes, hostile names. */
function makeFixture() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mioserve-browser-"));
  fs.mkdirSync(path.join(root, UNICODE_DIR));
  fs.writeFileSync(path.join(root, UNICODE_DIR, UNICODE_FILE), GREETING + "\n");
  fs.mkdirSync(path.join(root, "docs"));
  fs.writeFileSync(path.join(root, "docs", "notes.md"), "# Notes\n");
  const sizes = { "tiny.txt": 12, "report-2.csv": 4_000, "report-10.csv": 90_000, "video.bin": 3_500_000 };
  for (const [name, size] of Object.entries(sizes)) {
    fs.writeFileSync(path.join(root, name), Buffer.alloc(size, 120));
  }
  fs.writeFileSync(path.join(root, "a & b <c> \"quoted\" #1?.txt"), "hostile\n");
  fs.writeFileSync(path.join(root, "100% done [final].txt"), "done\n");
  // Not valid UTF-8: a path given as bytes.
  const latin1 = Buffer.concat([Buffer.from(root + "/"), Buffer.from("latin1-caf\xe9.txt", "latin1")]);
  fs.writeFileSync(latin1, "latin1\n");
  fs.writeFileSync(path.join(root, ".secret"), "hidden\n");
  fs.writeFileSync(path.join(root, "report-1.csv"), "a,b\n");
  return root;
}

let browser;
let fixture;
let listingServer;
let demoServer;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  fixture = makeFixture();
  listingServer = await startServer(fixture);
  demoServer = await startServer(path.join(repo, "public"));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const server of [listingServer, demoServer]) {
    if (server) {
      server.child.removeAllListeners("exit");
      server.child.kill();
    }
  }
  if (fixture) fs.rmSync(fixture, { recursive: true, force: true });
});

/** A fresh page that fails the test on any uncaught page error. */
async function newPage(viewport = { width: 1100, height: 760 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Nothing is excused: a page naming no icon (a text file, the 404 page) makes Chromium ask
    // for /favicon.ico, which the built-in icon answers even though the fixture has none.
    problems.push(`console error: ${m.text()} (${m.location().url})`);
  });
  return { context, page, problems };
}

/** Names in the listing's rows, in order (the parent row left out). */
function rowNames(page) {
  return page.$$eval("tbody tr:not(.up) td.n a", (links) => links.map((a) => a.textContent));
}

test("browse: root listing → Unicode folder → file", async () => {
  const { context, page, problems } = await newPage();
  const response = await page.goto(listingServer.url);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "Index of /");
  const names = await rowNames(page);
  assert.deepEqual(names.slice(0, 2), ["docs/", `${UNICODE_DIR}/`], "folders first");
  assert.ok(names.includes('a & b <c> "quoted" #1?.txt'), names.join(" | "));
  assert.ok(names.includes("latin1-caf\uFFFD.txt"), names.join(" | "));
  assert.ok(!names.includes(".secret"), "dotfiles are not listed");
  assert.deepEqual(
    names.filter((n) => n.startsWith("report-")),
    ["report-1.csv", "report-2.csv", "report-10.csv"],
    "natural order",
  );
  await page.screenshot({ path: path.join(shots, "listing.png"), fullPage: true });

  await page.getByRole("link", { name: `${UNICODE_DIR}/`, exact: true }).click();
  await page.waitForURL(/\/%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20folder\/$/);
  assert.match(await page.locator("h1").innerText(), new RegExp(UNICODE_DIR));
  assert.deepEqual(await rowNames(page), [UNICODE_FILE]);
  await page.screenshot({ path: path.join(shots, "listing-unicode-folder.png") });

  await page.getByRole("link", { name: UNICODE_FILE, exact: true }).click();
  await page.waitForURL(/\/hello%20w%C3%B6rld\.txt$/);
  assert.equal((await page.locator("body").innerText()).trim(), GREETING);

  // Back up through the parent link and the breadcrumb.
  await page.goBack();
  await page.getByRole("link", { name: "Parent folder" }).click();
  await page.waitForURL(listingServer.url);
  assert.equal(await page.title(), "Index of /");

  // Every hostile name is clickable and serves its own file.
  await page.getByRole("link", { name: 'a & b <c> "quoted" #1?.txt', exact: true }).click();
  assert.equal((await page.locator("body").innerText()).trim(), "hostile");
  await page.goBack();
  await page.getByRole("link", { name: "latin1-caf\uFFFD.txt", exact: true }).click();
  assert.equal((await page.locator("body").innerText()).trim(), "latin1");

  assert.deepEqual(problems, []);
  await context.close();
});

test("sort the listing by size, both ways, from the column headers", async () => {
  const { context, page, problems } = await newPage();
  await page.goto(listingServer.url);
  const header = page.locator("thead th.s a");

  await header.click();
  await page.waitForURL(/\?sort=size&order=asc$/);
  let names = await rowNames(page);
  assert.deepEqual(names.slice(0, 2), ["docs/", `${UNICODE_DIR}/`], "folders stay first");
  const files = (list) => list.filter((n) => !n.endsWith("/"));
  const bySize = [
    "report-1.csv", // 4 bytes
    "100% done [final].txt", // 5
    "latin1-caf\uFFFD.txt", // 7
    'a & b <c> "quoted" #1?.txt', // 8
    "tiny.txt", // 12
    "report-2.csv", // 4,000
    "report-10.csv", // 90,000
    "video.bin", // 3,500,000
  ];
  assert.deepEqual(files(names), bySize);
  assert.equal(await page.locator("thead th.s").getAttribute("aria-sort"), "ascending");

  await header.click();
  await page.waitForURL(/\?sort=size&order=desc$/);
  names = await rowNames(page);
  assert.deepEqual(names.slice(0, 2), [`${UNICODE_DIR}/`, "docs/"], "folders first, reversed");
  assert.deepEqual(files(names), [...bySize].reverse());
  assert.equal(await page.locator("thead th.s").getAttribute("aria-sort"), "descending");
  // Exact sizes are in the title of the human-readable ones.
  assert.equal(await page.locator("tbody tr:not(.up) td.s").nth(2).getAttribute("title"), "3500000 bytes");
  assert.equal(await page.locator("tbody tr:not(.up) td.s").nth(2).innerText(), "3.3 MiB");
  await page.screenshot({ path: path.join(shots, "listing-by-size.png"), fullPage: true });

  assert.deepEqual(problems, []);
  await context.close();
});

/** Names in the rows the filter leaves visible. */
function visibleNames(page) {
  return page.$$eval("tbody tr:not(.up):not([hidden]) td.n a", (links) => links.map((a) => a.textContent));
}

test("the filter box narrows the rows as you type; Escape brings them back", async () => {
  const { context, page, problems } = await newPage();
  await page.goto(listingServer.url);
  const all = await rowNames(page);
  const filter = page.locator("#filter");
  assert.ok(await filter.isVisible(), "the script shows the filter box");
  await filter.pressSequentially("REPORT");
  assert.deepEqual(await visibleNames(page), ["report-1.csv", "report-2.csv", "report-10.csv"], "any case");
  assert.equal(await page.locator("#shown").innerText(), `3 of ${all.length} shown`);
  await page.screenshot({ path: path.join(shots, "listing-filtered.png") });
  for (let i = 0; i < "REPORT".length; i++) await filter.press("Backspace");
  assert.deepEqual(await visibleNames(page), all, "an empty box shows every row");
  await filter.pressSequentially("d");
  assert.deepEqual(
    await visibleNames(page),
    all.filter((n) => n.toLowerCase().includes("d")),
    "every keystroke filters again",
  );
  await filter.fill("no such name");
  await filter.dispatchEvent("input");
  assert.deepEqual(await visibleNames(page), []);
  await filter.press("Escape");
  assert.deepEqual(await visibleNames(page), all, "Escape clears the filter");
  assert.ok(await page.locator("#shown").isHidden());
  // The parent row is never filtered away.
  await page.goto(listingServer.url + "docs/");
  await page.locator("#filter").pressSequentially("zzz");
  assert.ok(await page.getByRole("link", { name: "Parent folder" }).isVisible());
  // "/" elsewhere on the page jumps to the box.
  await page.locator("#filter").press("Escape");
  await page.locator("h1").click();
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "filter");
  assert.deepEqual(problems, []);
  await context.close();
});

test("without JavaScript the listing is whole and the filter box stays hidden", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, javaScriptEnabled: false });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(listingServer.url);
  assert.ok(await page.locator("#filter").isHidden());
  const names = await rowNames(page);
  assert.deepEqual(await visibleNames(page), names);
  await page.locator("thead th.s a").click();
  await page.waitForURL(/\?sort=size&order=asc$/);
  await page.getByRole("link", { name: "docs/", exact: true }).click();
  await page.waitForURL(/\/docs\/$/);
  assert.deepEqual(await rowNames(page), ["notes.md"]);
  await context.close();
});

/** For each row class of the samples listing: the icon's mask and colour, and its box size. */
function icons(page) {
  return page.$$eval("tbody tr:not(.up)", (rows) =>
    rows.map((row) => {
      const style = getComputedStyle(row.querySelector("td.n a"), "::before");
      return {
        kind: row.className,
        name: row.querySelector("td.n a").textContent,
        mask: style.maskImage || style.webkitMaskImage,
        color: style.backgroundColor,
        width: parseFloat(style.width),
      };
    }),
  );
}

test("an icon per kind of entry, inline, in both colour schemes", async () => {
  const requests = [];
  const seen = {};
  for (const colorScheme of ["light", "dark"]) {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 }, colorScheme });
    const page = await context.newPage();
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(demoServer.url + "samples/");
    const list = await icons(page);
    const kindOf = Object.fromEntries(list.map((i) => [i.name, i.kind]));
    assert.deepEqual(
      [kindOf["nested/"], kindOf["gradient.png"], kindOf["chart.svg"], kindOf["beep.wav"], kindOf["notes.txt"],
        kindOf["data.json"], kindOf["bundle.zip"]],
      ["d", "i", "i", "a", "t", "t", "z"],
    );
    for (const icon of list) {
      assert.ok(icon.width > 8, `${icon.name}: the icon has a size (${icon.width}px)`);
      assert.match(icon.mask, /^url\("data:image\/svg\+xml,/, `${icon.name}: an inline SVG`);
    }
    const byKind = Object.fromEntries(list.map((i) => [i.kind, i]));
    const kinds = Object.keys(byKind);
    assert.equal(new Set(kinds.map((k) => byKind[k].mask)).size, kinds.length, "one shape per kind");
    assert.equal(new Set(kinds.map((k) => byKind[k].color)).size, kinds.length, "one colour per kind");
    seen[colorScheme] = byKind.d.color;
    await page.screenshot({ path: path.join(shots, `listing-icons-${colorScheme}.png`) });
    await context.close();
  }
  assert.notEqual(seen.light, seen.dark, "the colours follow the scheme");
  const elsewhere = requests.filter((u) => !u.startsWith(demoServer.url));
  assert.deepEqual(elsewhere, [], "nothing is fetched from elsewhere");
});

test("the listing in the dark scheme", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 600 }, colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto(listingServer.url + "?sort=modified&order=desc");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(13, 17, 23)");
  await page.screenshot({ path: path.join(shots, "listing-dark.png") });
  await context.close();
});

test("the listing reads well on a phone", async () => {
  const { context, page } = await newPage({ width: 390, height: 844 });
  await page.goto(listingServer.url);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
  await page.screenshot({ path: path.join(shots, "listing-phone.png"), fullPage: true });
  await page.locator("#filter").pressSequentially("report");
  assert.equal((await visibleNames(page)).length, 3);
  await page.screenshot({ path: path.join(shots, "listing-phone-filtered.png") });
  await context.close();
});

test("built-in error page: one 404, no second one for the icon", async () => {
  const { context, page, problems } = await newPage({ width: 900, height: 500 });
  const statuses = [];
  page.on("response", (r) => statuses.push(`${r.status()} ${new URL(r.url()).pathname}`));
  const response = await page.goto(listingServer.url + "no/such/file");
  assert.equal(response.status(), 404);
  assert.equal(await page.locator("h1").innerText(), "404 Not Found");
  await page.waitForLoadState("networkidle");
  assert.deepEqual(statuses.filter((s) => s.startsWith("404")), ["404 /no/such/file"], statuses.join(", "));
  assert.deepEqual(problems.filter((p) => !p.includes("404 (Not Found)")), []);
  await page.screenshot({ path: path.join(shots, "error-404.png") });
  await context.close();
});

test("demo site: every sub-resource loads with 200 and the console stays clean", async () => {
  for (const start of ["", "docs/"]) {
    const { context, page, problems } = await newPage();
    const responses = [];
    const failures = [];
    const codings = {};
    page.on("response", (r) => {
      responses.push({ url: r.url(), status: r.status() });
      codings[new URL(r.url()).pathname] = r.headers()["content-encoding"];
    });
    page.on("requestfailed", (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
    const main = await page.goto(demoServer.url + start, { waitUntil: "load" });
    assert.equal(main.status(), 200);
    await page.waitForLoadState("networkidle");

    assert.deepEqual(failures, []);
    const bad = responses.filter((r) => r.status !== 200);
    assert.deepEqual(bad, [], "every response is 200");
    const loaded = responses.map((r) => new URL(r.url).pathname);
    for (const resource of ["/style.css", "/logo.svg"]) {
      assert.ok(loaded.includes(resource), `${resource} loaded: ${loaded.join(", ")}`);
    }
    if (start === "") {
      assert.ok(loaded.includes("/app.js"), `app.js loaded: ${loaded.join(", ")}`);
      // The page's text resources arrive compressed (br or gzip, whichever Chromium offers).
      for (const resource of ["/", "/style.css", "/app.js"]) {
        assert.match(codings[resource] ?? "", /^(br|gzip)$/, `${resource} coded: ${JSON.stringify(codings)}`);
      }
      // app.js fills this in from the Server header of a HEAD request.
      await page.waitForFunction(() => /mioserve/.test(document.getElementById("served-by")?.textContent ?? ""));
      const styled = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
      assert.notEqual(styled, "", "style.css applied");
      // The commands name the address the page came from, not the default one.
      const commands = await page.$$eval("#bench code", (codes) => codes.map((c) => c.textContent));
      assert.deepEqual(commands, [
        `curl -I ${demoServer.url}`,
        `wrk -t1 -c64 -d5s ${demoServer.url}`,
        `oha -c64 -z5s ${demoServer.url}`,
      ]);
      await page.screenshot({ path: path.join(shots, "demo.png"), fullPage: true });
      // The samples folder has no index.html: the demo's way into a listing.
      await page.getByRole("link", { name: "samples/", exact: true }).click();
      await page.waitForURL(demoServer.url + "samples/");
      assert.equal(await page.title(), "Index of /samples/");
      const samples = await rowNames(page);
      assert.equal(samples[0], "nested/", samples.join(" | "));
      for (const name of ["notes.txt", "data.json", "table.csv", "chart.svg", "gradient.png", "beep.wav", "bundle.zip"]) {
        assert.ok(samples.includes(name), `${name} listed: ${samples.join(" | ")}`);
      }
      await page.screenshot({ path: path.join(shots, "demo-samples.png"), fullPage: true });
    } else {
      await page.screenshot({ path: path.join(shots, "demo-docs.png"), fullPage: true });
    }
    assert.deepEqual(problems, [], "no console errors");
    await context.close();
  }
});
