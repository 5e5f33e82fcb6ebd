// End-to-end test of the operator dashboard in headless Chromium (Debian's
// `chromium`, driven by playwright-core): starts a switchboard binary with a temp
// database, opens GET /, logs in with the admin token, starts the softphone with a
// fake microphone fed from the shipped caller WAVs, and asserts that the caller's
// transcript, the assistant's reply and a tool call appear on the page. Saves a
// screenshot to test-artifacts/dashboard.png. Exits non-zero on failure.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// target/debug/switchboard), CHROMIUM (default /usr/bin/chromium).
//
// The server, Chromium and the temp folder are released in `finally`, after a
// failure too (the server: SIGTERM, then SIGKILL after 5 s).

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const artifacts = join(root, "test-artifacts");
mkdirSync(artifacts, { recursive: true });
const ADMIN = "browser-e2e-admin-token";

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => ok(port)); });
  });
}

// Minimal WAV (PCM16 mono) reader/writer: enough for the shipped 16 kHz clips.
function readWav(path) {
  const buf = readFileSync(path);
  let off = 12, rate = 0, data = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString("ascii", off, off + 4), size = buf.readUInt32LE(off + 4);
    if (id === "fmt ") rate = buf.readUInt32LE(off + 12);
    if (id === "data") data = buf.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size % 2);
  }
  assert.ok(rate && data, `${path}: not a PCM WAV`);
  return { rate, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}

function writeWav(path, rate, samples) {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0); header.writeUInt32LE(36 + samples.length * 2, 4); header.write("WAVE", 8);
  header.write("fmt ", 12); header.writeUInt32LE(16, 16); header.writeUInt16LE(1, 20); header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24); header.writeUInt32LE(rate * 2, 28); header.writeUInt16LE(2, 32); header.writeUInt16LE(16, 34);
  header.write("data", 36); header.writeUInt32LE(samples.length * 2, 40);
  writeFileSync(path, Buffer.concat([header, Buffer.from(samples.buffer)]));
}

// The fake microphone: 1 s silence, the booking request, 2 s silence, the message
// request, 6 s silence (Chromium loops the file; the silence keeps turns apart).
function fakeMicWav() {
  const booking = readWav(join(root, "assets/audio/caller-booking.wav"));
  const message = readWav(join(root, "assets/audio/caller-message.wav"));
  assert.equal(booking.rate, message.rate);
  const silence = (s) => new Int16Array(Math.round(booking.rate * s));
  const parts = [silence(1), booking.samples, silence(2), message.samples, silence(6)];
  const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0; for (const p of parts) { all.set(p, at); at += p.length; }
  const path = join(artifacts, "fake-mic.wav");
  writeWav(path, booking.rate, all);
  return path;
}

async function waitHealthy(base, server) {
  for (let i = 0; i < 100; i++) {
    if (server.exitCode !== null) throw new Error(`switchboard exited with ${server.exitCode}`);
    try { if ((await fetch(base + "/health")).ok) return; } catch (_) {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("switchboard did not become healthy in 10 s");
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const tmp = mkdtempSync(join(tmpdir(), "switchboard-e2e-"));
const bin = process.env.SWITCHBOARD_BIN
  || join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "debug/switchboard");
writeFileSync(join(tmp, "none.toml"), "");
const serverLog = [];
const server = spawn(bin, ["--config", join(tmp, "none.toml"), "serve"], {
  cwd: root,
  env: {
    ...process.env,
    RUST_LOG: "info",
    SWITCHBOARD_SERVER__BIND: `127.0.0.1:${port}`,
    SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
    SWITCHBOARD_SERVER__WORKERS: "1",
    SWITCHBOARD_DATABASE__URL: join(tmp, "e2e.db"),
  },
  stdio: ["ignore", "pipe", "pipe"],
});
server.on("error", (e) => serverLog.push(`switchboard (${bin}): ${e.message}\n`));
server.stdout.on("data", (d) => serverLog.push(d.toString()));
server.stderr.on("data", (d) => serverLog.push(d.toString()));

let browser;
let failed = false;
try {
  await waitHealthy(base, server);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${fakeMicWav()}`,
      "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(base + "/");
  await page.fill("#token", ADMIN);
  await page.click("#login-button");
  await page.waitForSelector("#app:not(.hidden)", { timeout: 5000 });
  await page.waitForSelector("#phone-tenant option", { state: "attached", timeout: 5000 });
  await page.click("#phone-start");
  try {
    await page.waitForFunction(() => document.querySelector("#phone-state").textContent.startsWith("in call"), null, { timeout: 10000 });
    // The caller's words, the receptionist's answer, and the takeMessage tool call.
    await page.waitForFunction(() => document.querySelector("#phone-transcript").textContent.includes("teeth cleaning"), null, { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector("#phone-transcript .line.assistant") !== null, null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector("#phone-tools .tool")?.textContent.includes("takeMessage"), null, { timeout: 40000 });
    // The live feed (/logs) shows the same call in the active-calls panel.
    await page.waitForFunction(() => document.querySelector("#active .call .tools")?.textContent.includes("takeMessage"), null, { timeout: 5000 });
  } finally {
    await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });
    writeFileSync(join(artifacts, "dashboard-console.log"), consoleLines.join("\n"));
  }
  // The health/metrics summary counts the call.
  await page.waitForFunction(() => /total calls [1-9]/.test(document.querySelector("#metrics").textContent), null, { timeout: 10000 });
  const tool = await page.textContent("#phone-tools .tool");
  assert.match(tool, /takeMessage\(.*Dana Smith/);
  // Hang up; the call is then listed with its outcome.
  await page.click("#phone-stop");
  await page.waitForFunction(() => [...document.querySelectorAll("#calls tr")].some((r) => r.textContent.includes("browser") && r.textContent.includes("caller_hangup")), null, { timeout: 10000 });
  await page.screenshot({ path: join(artifacts, "dashboard-after.png"), fullPage: true });
  console.log("dashboard e2e: ok (screenshots in test-artifacts/)");
} catch (e) {
  failed = true;
  console.error("dashboard e2e FAILED:", e);
  console.error("--- server log (tail) ---\n" + serverLog.join("").split("\n").slice(-40).join("\n"));
} finally {
  if (browser) await browser.close().catch((e) => console.error("closing Chromium:", e));
  if (server.exitCode === null && server.signalCode === null) {
    await new Promise((r) => {
      const kill = setTimeout(() => server.kill("SIGKILL"), 5000);
      server.once("exit", () => { clearTimeout(kill); r(); });
      server.kill("SIGTERM");
    });
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
