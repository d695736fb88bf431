// Real-browser HTTPS (issue 21): Chromium loads the demo page and a listing from mioserve
// --tls-self-signed, trusting the certificate only by the SPKI hash the server prints on stderr
// (`--ignore-certificate-errors-spki-list`), and the page is a secure context. The page is
// reached by the machine's host name (resolved to 127.0.0.1 inside Chromium), which the
// certificate covers: 127.0.0.1 and localhost are secure contexts even over plain HTTP, a host
// name is one only over HTTPS, so the check means something (the plain-HTTP contrast below shows
// it). A second server with a certificate Chromium was not told of must be refused: the trust
// comes from the flag and nothing else. Run through ./run.sh.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import crypto from "node:crypto";
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

/**
 * Starts mioserve on `root`, port 0, with `args`. Resolves once its stdout named the URL and,
 * under --tls-self-signed, its stderr said how to trust the certificate: the URL, the SPKI hash
 * for Chromium, the names the certificate covers and where its PEM is.
 */
function startServer(root, args = []) {
  const tls = args.includes("--tls-self-signed");
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [root, "-p", "0", "--access-log", "off", "--no-stats", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderr = [];
    const found = {};
    const timer = setTimeout(
      () => reject(new Error(`mioserve did not start; stderr:\n${stderr.join("\n")}`)),
      TIMEOUT,
    );
    const settle = () => {
      if (!found.url || (tls && !(found.spki && found.pem))) return;
      clearTimeout(timer);
      resolve({ child, stderr, ...found });
    };
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`mioserve exited with ${code}:\n${stderr.join("\n")}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const match = line.match(/(https?:\/\/\S+\/)$/);
      if (!match) return reject(new Error(`no URL in ${JSON.stringify(line)}`));
      found.url = match[1];
      settle();
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      stderr.push(line);
      let match = line.match(/--ignore-certificate-errors-spki-list=(\S+)$/);
      if (match) found.spki = match[1];
      match = line.match(/self-signed certificate for (.+) written to (\S+)$/);
      if (match) {
        found.names = match[1].split(", ");
        found.pem = match[2];
      }
      settle();
    });
  });
}

function stop(server) {
  if (!server) return;
  server.child.removeAllListeners("exit");
  server.child.kill();
}

/** Base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's flag takes. */
function spkiHash(pemFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemFile));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return crypto.createHash("sha256").update(spki).digest("base64");
}

/** `url` with its host replaced by `host`. */
function byName(url, host) {
  const u = new URL(url);
  u.hostname = host;
  return u.href;
}

let browser;
let secure; // mioserve public/ --tls-self-signed: the certificate Chromium trusts
let stranger; // the same, with another certificate Chromium was not told of
let plain; // mioserve public/ over plain HTTP, for the contrast
let host; // the machine's host name, as the certificate names it

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const site = path.join(repo, "public");
  [secure, stranger, plain] = await Promise.all([
    startServer(site, ["--tls-self-signed"]),
    startServer(site, ["--tls-self-signed"]),
    startServer(site),
  ]);
  host = os.hostname().toLowerCase();
  assert.ok(
    secure.names.map((n) => n.toLowerCase()).includes(host),
    `the certificate covers the host name ${host}: ${secure.names.join(", ")}`,
  );
  assert.notEqual(host, "localhost", "a host name that is not a secure context by itself");
  // What the server printed is the hash of the certificate it wrote (and serves).
  assert.equal(secure.spki, spkiHash(secure.pem));
  assert.notEqual(stranger.spki, secure.spki, "a fresh key per start");
  browser = await launchChromium([
    `--ignore-certificate-errors-spki-list=${secure.spki}`,
    // Every name stays on this machine: the host name is looked up by nobody.
    `--host-resolver-rules=MAP ${host} 127.0.0.1`,
  ]);
});

after(async () => {
  await browser?.close();
  for (const server of [secure, stranger, plain]) stop(server);
});

/** A fresh page that fails the test on any uncaught page error or console error. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()} (${m.location().url})`);
  });
  return { context, page, problems };
}

/** What the page says about its own security. */
function security(page) {
  return page.evaluate(() => ({
    protocol: location.protocol,
    isSecureContext: window.isSecureContext,
    subtle: typeof crypto.subtle,
  }));
}

test("the demo page over https://, trusted by its SPKI hash, is a secure context", async () => {
  const { context, page, problems } = await newPage();
  const failures = [];
  const statuses = [];
  page.on("requestfailed", (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => statuses.push(`${r.status()} ${r.url()}`));
  const url = byName(secure.url, host);
  assert.match(url, /^https:\/\//);
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  const details = await response.securityDetails();
  assert.equal(details?.protocol, "TLS 1.3", JSON.stringify(details));
  assert.equal(details?.subjectName, "mioserve development certificate");
  assert.deepEqual(await security(page), { protocol: "https:", isSecureContext: true, subtle: "object" });
  await page.waitForLoadState("networkidle");
  assert.deepEqual(failures, []);
  for (const resource of ["/style.css", "/app.js", "/logo.svg"]) {
    assert.ok(statuses.includes(`200 ${new URL(resource, url).href}`), `${resource}: ${statuses.join(", ")}`);
  }
  // app.js reads the Server header of a HEAD request made with fetch over the same session.
  await page.waitForFunction(() => /mioserve/.test(document.getElementById("served-by")?.textContent ?? ""));
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).fontFamily), "");
  await page.screenshot({ path: path.join(shots, "https-demo.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test("a listing over https:// renders, sorts and filters", async () => {
  const { context, page, problems } = await newPage();
  const url = byName(secure.url, host) + "samples/";
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "Index of /samples/");
  assert.equal((await security(page)).isSecureContext, true);
  const names = () => page.$$eval("tbody tr:not(.up) td.n a", (links) => links.map((a) => a.textContent));
  const all = await names();
  assert.equal(all[0], "nested/", all.join(" | "));
  for (const name of ["notes.txt", "data.json", "table.csv", "chart.svg", "gradient.png", "beep.wav", "bundle.zip"]) {
    assert.ok(all.includes(name), `${name} listed: ${all.join(" | ")}`);
  }
  // The listing's script runs: the filter box narrows the rows.
  await page.locator("#filter").pressSequentially("csv");
  const visible = await page.$$eval("tbody tr:not(.up):not([hidden]) td.n a", (links) =>
    links.map((a) => a.textContent),
  );
  assert.deepEqual(visible, ["table.csv"]);
  await page.screenshot({ path: path.join(shots, "https-listing.png"), fullPage: true });
  // A sort link and a file in it, still over the same origin.
  await page.locator("#filter").press("Escape");
  await page.locator("thead th.s a").click();
  await page.waitForURL(/\?sort=size&order=asc$/);
  await page.getByRole("link", { name: "notes.txt", exact: true }).click();
  await page.waitForURL(new URL("notes.txt", url).href);
  assert.ok((await page.locator("body").innerText()).length > 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test("http:// typed at the HTTPS port is redirected (308) to https://", async () => {
  const { context, page, problems } = await newPage();
  const url = byName(secure.url, host).replace(/^https:/, "http:") + "samples/";
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.equal(page.url(), url.replace(/^http:/, "https:"));
  const first = await response.request().redirectedFrom()?.response();
  assert.equal(first?.status(), 308);
  assert.equal((await security(page)).isSecureContext, true);
  assert.deepEqual(problems, []);
  await context.close();
});

test("the same page over plain http:// by host name is not a secure context", async () => {
  const { context, page } = await newPage();
  const response = await page.goto(byName(plain.url, host));
  assert.equal(response.status(), 200);
  assert.deepEqual(await security(page), { protocol: "http:", isSecureContext: false, subtle: "undefined" });
  await context.close();
});

test("a certificate whose SPKI hash Chromium was not given is refused", async () => {
  const { context, page } = await newPage();
  await assert.rejects(page.goto(byName(stranger.url, host)), /net::ERR_CERT_AUTHORITY_INVALID/);
  await context.close();
});
