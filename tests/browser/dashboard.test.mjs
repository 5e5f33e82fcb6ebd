// End-to-end test of the owner's dashboard in headless Chromium (Debian's
// `chromium`, driven by playwright-core): starts a switchboard binary with a temp
// database and a simulator script whose model books a cleaning next Tuesday 09:00
// and takes a message, opens GET /, signs in with the admin token (the sign-in
// page's "use an admin token" option), starts the softphone with a fake
// microphone fed from the shipped caller WAVs, and asserts
// on the page: the caller's words, the receptionist's answer and readable tool
// lines in place in the transcript; the live card; the header counts; the call in
// the list after the owner hangs up from the live card (operator words, its
// summary) and its detail panel (selected row,
// summary, "Booked cleaning, Tue … 09:00" between the caller's lines, close); the
// message in Messages, marked handled by a click and still handled after a reload;
// a key pressed on the softphone's keypad reaching the call as a note;
// the booking in Bookings; the call recorded (its panel's player plays, and a
// click on a transcript line seeks it to that line's time). Screenshots at 1440 px and 390 px (no horizontal
// overflow at 390 or 360) go to test-artifacts/. Exits non-zero on failure.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// target/debug/switchboard), CHROMIUM (default /usr/bin/chromium).
//
// The server, Chromium and the temp folder are released in `finally`, after a
// failure too (the server: SIGTERM, then SIGKILL after 5 s).

import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { artifacts, freePort, launchChromium, root, runTest, simScript, startSwitchboard, until as untilIn, waitHealthy } from "./harness.mjs";

const ADMIN = "browser-e2e-admin-token";

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

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const tmp = mkdtempSync(join(tmpdir(), "switchboard-e2e-"));
// The example tenant, recording its calls (into tmp/recordings: relative
// paths resolve against the config file's folder).
writeFileSync(join(tmp, "config.toml"), `[recording]
dir = "recordings"

[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["+15550100000"]
time_zone = "America/New_York"
company_brief = "Acme Dental is a family dental practice offering cleanings, fillings and check-ups."
instructions = "Keep replies short and friendly."
[tenants.services]
cleaning = 60
checkup = 30
filling = 45
[tenants.recording]
mode = "all"
`);
// The booking turn's date: next Tuesday (at least a day ahead) in the example
// tenant's zone; 09:00 is a slot start (the example tenant is always open).
function nextTuesday() {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  const d = new Date(today + "T12:00:00Z");
  do { d.setUTCDate(d.getUTCDate() + 1); } while (d.getUTCDay() !== 2);
  return d.toISOString().slice(0, 10);
}
const tuesday = nextTuesday();
const tuesdayWords = new Date(tuesday + "T12:00:00Z").toLocaleDateString("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" }).replace(",", "");
const script = simScript("Thanks for calling Acme Dental, this is the virtual receptionist. How can I help you today?", [
  {
    words: "Hi, this is Dana Smith. I would like to book a teeth cleaning for next Tuesday morning, please.",
    call: { name: "createBooking", arguments: { customerName: "Dana Smith", customerPhone: "+15550100001", service: "cleaning", dateTime: `${tuesday}T09:00` } },
    reply: { clip: "booking-confirmed.wav", text: "You are all set. I have noted your request, and the office will confirm by text." },
  },
  {
    words: "Could you take a message for Doctor Lee? Please ask her to call me back this afternoon.",
    call: { name: "takeMessage", arguments: { callerName: "Dana Smith", callerPhone: "+15550100001", message: "Please call back this afternoon.", urgency: "normal" } },
    reply: { clip: "message-taken.wav", text: "I have taken your message, and Doctor Lee will call you back this afternoon." },
  },
]);
writeFileSync(join(tmp, "script.toml"), script);
const server = startSwitchboard(["--config", join(tmp, "config.toml"), "serve"], {
  ...process.env,
  RUST_LOG: "info",
  SWITCHBOARD_SERVER__BIND: `127.0.0.1:${port}`,
  SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
  SWITCHBOARD_SERVER__WORKERS: "1",
  SWITCHBOARD_DATABASE__URL: join(tmp, "e2e.db"),
  SWITCHBOARD_SIMULATOR__SCRIPT: join(tmp, "script.toml"),
});

let browser;
await runTest("dashboard e2e", server, () => browser, async () => {
  await waitHealthy(port, server);
  browser = await launchChromium([
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${fakeMicWav()}`,
  ]);
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const text = (sel) => page.evaluate((s) => document.querySelector(s)?.textContent || "", sel);
  const until = (fn, arg, opts) => untilIn(page, fn, arg, opts);
  const noOverflow = async (width, what) => {
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= width, `${what}: page is ${wide} px wide at a ${width} px viewport`);
  };
  const landing = await page.goto(base + "/");
  const csp = landing.headers()["content-security-policy"] || "";
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/, "the dashboard's CSP");
  // The sign-in page offers email and password; the operator's admin token is the other way in.
  await page.waitForSelector("#signin-form", { state: "visible", timeout: 5000 });
  await page.click("#use-token");
  await page.fill("#token", ADMIN);
  await page.click("#login-button");
  await page.waitForSelector("#app:not(.hidden)", { timeout: 5000 });
  await page.waitForSelector("#phone-tenant option", { state: "attached", timeout: 5000 });
  // The empty state before any call.
  await until(() => document.querySelector("#calls").textContent.includes("No calls yet"), null, { timeout: 5000 });
  await page.click("#phone-start");
  try {
    await until(() => document.querySelector("#phone-state").textContent.startsWith("In call"), null, { timeout: 10000 });
    // The caller's words, the receptionist's answer, the booking and the message, as words in place.
    await until(() => document.querySelector("#phone-transcript").textContent.includes("teeth cleaning"), null, { timeout: 30000 });
    await until(() => document.querySelector("#phone-transcript .line.assistant") !== null, null, { timeout: 20000 });
    await until(() => document.querySelector("#phone-transcript .tool")?.textContent.startsWith("Booked cleaning"), null, { timeout: 40000 });
    await until(() => [...document.querySelectorAll("#phone-transcript .tool")].some((t) => t.textContent.includes("Took a message from Dana Smith")), null, { timeout: 40000 });
    // The live feed (/logs) shows the same call as a live card with its elapsed time.
    await until(() => [...document.querySelectorAll("#active .call .transcript .tool")].some((t) => t.textContent.includes("Took a message")), null, { timeout: 5000 });
    assert.match(await text("#active .call .meta"), /LIVE.*\d+:\d\d/);
    // A web call can be hung up from its card, not transferred (no phone line).
    assert.equal(await text("#active .call button.danger"), "Hang up");
    assert.doesNotMatch(await text("#active .call"), /Transfer to on-call/);
    // No raw ids or close codes in the softphone state.
    assert.match(await text("#phone-state"), /^In call · \d+:\d\d$/);
    // The softphone's keypad: a key pressed in the page reaches the call, as a
    // note the receptionist is told ("The caller pressed 5 …").
    assert.ok(await page.isVisible("#phone-keypad"), "no keypad during the call");
    await page.click('#phone-keypad button[data-key="5"]');
    await until(() => [...document.querySelectorAll("#active .call .transcript .line.system")].some((l) => l.textContent.includes("pressed 5")), null, { timeout: 10000 });
  } finally {
    await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });
    writeFileSync(join(artifacts, "dashboard-console.log"), consoleLines.join("\n"));
  }
  const tools = await page.evaluate(() => [...document.querySelectorAll("#phone-transcript .tool")].map((t) => t.textContent));
  assert.equal(tools[0], `Booked cleaning, ${tuesdayWords} 09:00`);
  assert.match(tools[1], /^Took a message from Dana Smith: .Please call back this afternoon\..$/);
  assert.ok(!tools.join(" ").includes("{"), `raw JSON in tool lines: ${tools}`);
  // The header counts the call, the waiting message and (when Tuesday is today's date: never) no booking today.
  await until(() => Number(document.querySelector("#stat-calls").textContent) >= 1, null, { timeout: 10000 });
  await until(() => Number(document.querySelector("#stat-messages").textContent) === 1, null, { timeout: 10000 });
  assert.doesNotMatch(await text("header"), /store queue|link restart|barge/);
  // The owner hangs up from the live card (POST /api/calls/{id}/hangup): the
  // softphone hears the end, and the call is listed in words with its summary.
  await page.click("#active .call button.danger");
  await until(() => !document.querySelector("#phone-state").textContent.startsWith("In call"), null, { timeout: 10000 });
  await until(() => [...document.querySelectorAll("#calls tr")].some((r) => r.textContent.includes("web call") && r.textContent.includes("Ended from the dashboard") && r.textContent.includes("booked cleaning")), null, { timeout: 20000 });
  const row = await page.evaluate(() => [...document.querySelectorAll("#calls tr")].find((r) => r.textContent.includes("web call")).textContent);
  assert.match(row, /Dana Smith · web call/);
  assert.match(row, /[A-Z]{2,4}|GMT/, "local time with its zone");
  assert.doesNotMatch(row, /caller_hangup|in_progress|browser/);
  await page.screenshot({ path: join(artifacts, "dashboard-after.png"), fullPage: true });
  // The call's recording is closed a moment after the call: then its panel has a player.
  const recorded = async () => {
    const r = await fetch(base + "/api/calls", { headers: { Authorization: "Bearer " + ADMIN } });
    const calls = await r.json();
    return calls.some((c) => c.carrier === "browser" && c.recording_file);
  };
  for (const end = Date.now() + 15000; !(await recorded()); ) {
    assert.ok(Date.now() < end, "the web call's recording was never noted");
    await new Promise((r) => setTimeout(r, 200));
  }
  // The call detail: its own panel, row marked, summary, tool lines in place.
  await page.click("#calls tr.pick");
  await page.waitForSelector("#detail:not(.hidden) .summary", { timeout: 5000 });
  assert.ok(await page.$("#calls tr.selected"), "selected row is marked");
  assert.equal(await text("#detail-title"), "Dana Smith · web call");
  assert.match(await text("#detail .summary"), /Dana Smith.*booked cleaning for .* 09:00 and left a message/);
  // (each line's time, its first span, left out)
  const order = await page.evaluate(() => [...document.querySelectorAll("#detail-body .line, #detail-body .tool")].map((n) => (n.classList.contains("tool") ? "tool: " : "line: ") + [...n.childNodes].filter((c) => !c.classList?.contains("at")).map((c) => c.textContent).join("")));
  const at = (pred) => order.findIndex(pred);
  const booking = at((l) => l === `tool: Booked cleaning, ${tuesdayWords} 09:00`);
  assert.ok(booking > at((l) => l.startsWith("line: Caller") && l.includes("teeth cleaning")), `booking after the request: ${order.join(" | ")}`);
  assert.ok(booking < at((l) => l.startsWith("line: Caller") && l.includes("take a message")), `booking before the next request: ${order.join(" | ")}`);
  // The player: each line shows its time; a click plays the recording from there.
  await until(() => document.querySelector("#detail-audio")?.duration > 5, null, { timeout: 10000 });
  const seek = await page.evaluate(() => {
    const lines = [...document.querySelectorAll("#detail-body .line.seek")];
    const target = lines.find((l) => l.textContent.includes("take a message"));
    return target ? { offset: Number(target.dataset.offsetMs), time: target.querySelector(".at").textContent, count: lines.length } : null;
  });
  assert.ok(seek && seek.count >= 3, `no seekable transcript lines: ${JSON.stringify(seek)}`);
  assert.ok(seek.offset > 5000, `the second request at ${seek.offset} ms`);
  assert.match(seek.time, /^\d+:\d\d$/);
  assert.equal(await page.evaluate(() => document.querySelector("#detail-audio").currentTime), 0);
  await page.click("#detail-body .line.seek >> text=take a message");
  await until((s) => Math.abs(document.querySelector("#detail-audio").currentTime - s) < 1.5, seek.offset / 1000, { timeout: 5000 });
  // It plays on from there.
  const t0 = await page.evaluate(() => document.querySelector("#detail-audio").currentTime);
  await until((t) => document.querySelector("#detail-audio").currentTime > t + 0.2, t0, { timeout: 5000 });
  await page.screenshot({ path: join(artifacts, "dashboard-1440.png"), fullPage: false });
  await page.click("#detail-close");
  await page.waitForSelector("#detail.hidden", { state: "attached", timeout: 2000 });
  assert.equal(await page.$("#calls tr.selected"), null);
  // Messages: the taken message waits; one click marks it handled, and it stays so.
  await page.click("#tab-messages");
  await until(() => document.querySelector("#caller-messages").textContent.includes("Please call back this afternoon."), null, { timeout: 10000 });
  assert.match(await text("#caller-messages .card"), /Dana Smith.*\+15550100001.*waiting/);
  await page.click("#caller-messages .mark-handled");
  await until(() => document.querySelector("#caller-messages").textContent.includes("all caught up"), null, { timeout: 10000 });
  await page.reload();
  await page.waitForSelector("#app:not(.hidden)", { timeout: 5000 });
  await page.click("#tab-messages");
  await page.selectOption("#messages-filter", "handled");
  await until(() => document.querySelector("#caller-messages .card.handled")?.textContent.includes("Please call back this afternoon."), null, { timeout: 10000 });
  await until(() => document.querySelector("#stat-messages").textContent === "0", null, { timeout: 10000 });
  // Bookings: by day.
  await page.click("#tab-bookings");
  await until(() => document.querySelector("#bookings .booking")?.textContent.includes("Dana Smith"), null, { timeout: 10000 });
  const day = await text("#bookings .day h3");
  assert.match(day, /^Tuesday /);
  assert.match(await text("#bookings .booking"), /^09:00cleaningDana Smith · \+15550100001booked/);
  // Texts & email and Settings read as words.
  await page.click("#tab-texts");
  await until(() => document.querySelector("#notifications").textContent.includes("Nothing sent to you yet"), null, { timeout: 5000 });
  await page.click("#tab-settings");
  await until(() => document.querySelector("#business").textContent.includes("Acme Dental"), null, { timeout: 5000 });
  assert.ok(await page.$("#outbound-card.hidden"), "calling back is hidden without Twilio");
  // A phone: 390 px (and 360 px) wide, no horizontal overflow, in every view.
  await page.click("#tab-calls");
  for (const width of [390, 360]) {
    await page.setViewportSize({ width, height: 844 });
    for (const tab of ["calls", "messages", "bookings", "texts", "settings"]) {
      await page.click(`#tab-${tab}`);
      await page.waitForTimeout(100);
      await noOverflow(width, `${tab} view`);
    }
    await page.click("#tab-calls");
    await page.click("#calls tr.pick");
    await page.waitForSelector("#detail:not(.hidden) .summary", { timeout: 5000 });
    await noOverflow(width, "call detail");
    if (width === 390) await page.screenshot({ path: join(artifacts, "dashboard-390-detail.png") });
    await page.click("#detail-close");
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(artifacts, "dashboard-390.png"), fullPage: true });
  // Everything above ran under the CSP: nothing of the page itself was blocked.
  const blocked = consoleLines.filter((l) => l.includes("Content Security Policy"));
  assert.deepEqual(blocked, [], "the dashboard's own code was blocked by its CSP");
}, () => rmSync(tmp, { recursive: true, force: true }));
