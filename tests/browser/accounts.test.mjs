// End-to-end test of dashboard accounts in headless Chromium (Debian's
// `chromium`, driven by playwright-core): one switchboard serves two
// businesses, A (Acme Dental) and B (Grok Plumbing). Owner A and staff A are
// added with the binary's own `user add` (password from the environment).
// Calls are placed on both tenants through the softphone socket (`/browser`)
// with the admin token, the simulator script taking a message from Ann Archer
// on every call and, on B's second caller turn only, one from Bob Grok.
//
// Then, in the browser: owner A signs in through the form (the `sb_session`
// cookie is HttpOnly, SameSite=Strict, Path=/, not Secure on http); the page
// shows only A's call, and neither the page nor any /api response or /logs
// frame it received carries B's tenant, calls or messages; owner A marks A's
// message handled with a click, and the admin's GET /api/audit names owner
// A's email on the `message.marked` entry; the Audit view lists it (no
// horizontal overflow at 390 and 360 px). During a live call on B and one on
// A, the page's /logs (opened with the cookie, no ticket) carries A's. A page of
// another origin (another port of 127.0.0.1: same site, so the Strict cookie
// IS sent) posts a form and a no-cors fetch to /api/logout: the server refuses
// both (its log says so), the session still works and no `sign_out` is
// audited. Staff A signs in: no Audit tab, no softphone, no settings form,
// and GET /api/audit answers 403. A wrong password is shown as such. Owner A
// signs out: GET /api/me answers 401 afterwards. Screenshots in
// test-artifacts/accounts-*.png. Exits non-zero on failure.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// target/debug/switchboard), CHROMIUM (default /usr/bin/chromium).

import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { artifacts, bin, freePort, launchChromium, root, runTest, simScript, sleep, startSwitchboard, until as untilIn, waitHealthy, writeConfig } from "./harness.mjs";

const ADMIN = "browser-accounts-admin-token";
const A = { id: "acme-dental", name: "Acme Dental", number: "+15550100000" };
const B = { id: "grok-plumbing", name: "Grok Plumbing", number: "+15550200000" };
const OWNER = { email: "owner@acme.example", password: "correct horse battery" };
const STAFF = { email: "desk@acme.example", password: "front desk staple" };

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const tmp = mkdtempSync(join(tmpdir(), "switchboard-accounts-"));
const tenant = (t) => `[[tenants]]\nid = "${t.id}"\nname = "${t.name}"\nphone_numbers = ["${t.number}"]\ncompany_brief = "A small business."\n`;
const config = writeConfig(tmp, port, `[simulator]\nscript = "${join(tmp, "script.toml")}"\n${tenant(A)}${tenant(B)}`);
// A caller turn whose model takes a message from `callerName`.
const message = (words, callerName, callerPhone, text) => ({
  words,
  call: { name: "takeMessage", arguments: { callerName, callerPhone, message: text, urgency: "normal" } },
  reply: { clip: "message-taken.wav", text: "I have taken your message, and someone will call you back." },
});
writeFileSync(join(tmp, "script.toml"), simScript("Thanks for calling, this is the virtual receptionist. How can I help you today?", [
  message("Hi, this is Ann Archer. Could someone call me back about my appointment?", "Ann Archer", "+15550101111", "Please call Ann back about the appointment."),
  message("And this is Bob Grok, the basement pipe has burst.", "Bob Grok", "+15550102222", "Burst pipe in the basement."),
]));
const env = {
  ...process.env,
  RUST_LOG: "info",
  SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
  OWNER_PASSWORD: OWNER.password,
  STAFF_PASSWORD: STAFF.password,
};
delete env.OPENAI_API_KEY;

/** `switchboard --config … user add …` (the password from the environment). */
function addUser(email, role, variable) {
  const run = spawnSync(bin, ["--config", config, "user", "add", "--email", email, "--tenant", A.id, "--role", role, "--password-from-env", variable], { cwd: root, env, encoding: "utf8" });
  assert.equal(run.status, 0, `user add ${email}: ${run.stdout}\n${run.stderr}`);
}

const server = startSwitchboard(["--config", config, "serve"], env);

// The other origin: 127.0.0.1 on another port (same site as the dashboard).
// Its page posts a form to /api/logout and sends a no-cors fetch there too.
const evil = createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/html" });
  res.end(`<!doctype html><title>elsewhere</title>
<form id="f" method="POST" action="${base}/api/logout"><input name="x" value="1"></form>
<script>
fetch("${base}/api/logout", { method: "POST", mode: "no-cors", credentials: "include" })
  .finally(() => document.getElementById("f").submit());
</script>`);
});
await new Promise((r) => evil.listen(0, "127.0.0.1", r));
const evilOrigin = `http://127.0.0.1:${evil.address().port}`;

const adminApi = async (path) => {
  const resp = await fetch(base + path, { headers: { Authorization: "Bearer " + ADMIN } });
  assert.equal(resp.status, 200, `${path}: ${resp.status}`);
  return resp.json();
};

// One softphone call on `tenant` from `page` (the dashboard's origin, as
// /browser requires), with the admin token: `turns` caller turns (a tone,
// then silence), each waited for until its scripted tool call arrives; then
// the caller hangs up.
const placeCall = (page, tenant, turns) => page.evaluate(async ({ tenant, turns, admin }) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (pred, ms, what) => { const end = Date.now() + ms; while (!pred()) { if (Date.now() > end) throw new Error("timed out: " + what); await sleep(50); } };
  const made = await fetch("/api/sessions", { method: "POST", headers: { Authorization: "Bearer " + admin, "Content-Type": "application/json" }, body: JSON.stringify({ tenant }) });
  if (made.status !== 201) throw new Error("POST /api/sessions: " + made.status);
  const session = await made.json();
  const ws = new WebSocket("ws://" + location.host + "/browser?token=" + session.token);
  ws.binaryType = "arraybuffer";
  const tools = []; let replies = 0;
  ws.onmessage = (m) => {
    if (typeof m.data !== "string") return;
    const msg = JSON.parse(m.data);
    if (msg.type === "mark") ws.send(JSON.stringify({ type: "mark", name: msg.name })); // "played" at once
    if (msg.type === "tool_call") tools.push(msg.name);
    if (msg.type === "transcript" && msg.role === "assistant") replies++;
  };
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error("/browser socket refused")); });
  let tone = false, t = 0;
  const frame = () => { // 20 ms of PCM16 24 kHz: a 220 Hz tone (speech to the energy VAD) or silence
    const pcm = new Int16Array(480);
    if (tone) for (let i = 0; i < 480; i++, t++) pcm[i] = Math.round(8000 * Math.sin(2 * Math.PI * 220 * t / 24000));
    return pcm.buffer;
  };
  const timer = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send(frame()); }, 20);
  try {
    await sleep(1500);
    for (let n = 1; n <= turns; n++) {
      const heard = replies;
      tone = true; await sleep(900); tone = false;
      await until(() => tools.length >= n, 20000, "tool call " + n);
      await until(() => replies > heard, 10000, "reply " + n).catch(() => {});
      await sleep(1500);
    }
    ws.send(JSON.stringify({ type: "hangup" }));
    await new Promise((r) => { ws.onclose = r; setTimeout(r, 5000); });
  } finally { clearInterval(timer); }
  return { session: session.sessionId, tools };
}, { tenant, turns, admin: ADMIN });

let browser;
await runTest("accounts e2e", server, () => browser, async () => {
  await waitHealthy(port, server);
  addUser(OWNER.email, "owner", "OWNER_PASSWORD");
  addUser(STAFF.email, "staff", "STAFF_PASSWORD");
  browser = await launchChromium();

  // Data in both tenants: A's call (Ann's message), B's call (Ann's and Bob's).
  // The caller page stays open for two live calls later.
  const caller = await browser.newPage();
  await caller.goto(base + "/");
  const callA = await placeCall(caller, A.id, 1);
  const callB = await placeCall(caller, B.id, 2);
  assert.deepEqual(callA.tools, ["takeMessage"]);
  assert.deepEqual(callB.tools, ["takeMessage", "takeMessage"]);
  let calls, messages;
  for (let i = 0; ; i++) {
    calls = await adminApi("/api/calls");
    messages = (await adminApi("/api/caller-messages?limit=100")).items;
    const ended = calls.length === 2 && calls.every((c) => c.status !== "in_progress");
    if (ended && messages.length === 3) break;
    if (i > 100) throw new Error(`calls/messages not stored: ${JSON.stringify({ calls, messages })}`);
    await sleep(200);
  }
  const aCalls = calls.filter((c) => c.tenant_id === A.id), bCalls = calls.filter((c) => c.tenant_id === B.id);
  assert.equal(aCalls.length, 1); assert.equal(bCalls.length, 1);
  const aMessage = messages.find((m) => m.tenant_id === A.id);
  const bMessages = messages.filter((m) => m.tenant_id === B.id);
  assert.ok(aMessage && bMessages.length === 2, JSON.stringify(messages));
  assert.ok(bMessages.some((m) => m.caller_name === "Bob Grok"));
  // What of B must never reach owner A.
  const bMarks = [B.id, B.name, "Bob Grok", "+15550102222", "+15550200000", bCalls[0].id, ...bMessages.map((m) => m.id)];

  // Owner A signs in through the form.
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const received = []; // every /api body and /logs frame the page received
  page.on("response", async (r) => { if (new URL(r.url()).pathname.startsWith("/api/")) received.push(`${r.url()}: ${await r.text().catch(() => "")}`); });
  page.on("websocket", (ws) => ws.on("framereceived", (f) => received.push(`${ws.url()}: ${f.payload}`)));
  const text = (sel) => page.evaluate((s) => document.querySelector(s)?.textContent || "", sel);
  const until = (fn, arg, opts) => untilIn(page, fn, arg, opts);
  const me = () => page.evaluate(async () => (await fetch("/api/me")).status);
  await page.goto(base + "/");
  await page.waitForSelector("#signin-form", { state: "visible", timeout: 5000 });
  assert.equal(await me(), 401, "no session before signing in");
  // A wrong password first: the one generic answer, in words.
  await page.fill("#email", OWNER.email);
  await page.fill("#password", "not the password");
  await page.click("#signin-button");
  await until(() => document.querySelector("#login-error").textContent !== "", null, { timeout: 5000 });
  assert.equal(await text("#login-error"), "Wrong email or password.");
  await page.screenshot({ path: join(artifacts, "accounts-sign-in.png") });
  await page.fill("#password", OWNER.password);
  await page.click("#signin-button");
  await page.waitForSelector("#app:not(.hidden)", { timeout: 5000 });
  const cookie = (await context.cookies(base)).find((c) => c.name === "sb_session");
  assert.ok(cookie, "no sb_session cookie");
  assert.equal(cookie.httpOnly, true, "HttpOnly");
  assert.equal(cookie.sameSite, "Strict", "SameSite");
  assert.equal(cookie.path, "/", "Path");
  assert.equal(cookie.secure, false, "not Secure on http");
  assert.equal(await page.evaluate(() => document.cookie.includes("sb_session")), false, "the cookie is out of scripts' reach");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("switchboardToken")), null, "no token kept");
  assert.equal(await text("#whoami"), `${OWNER.email} · owner · ${A.name}`);
  assert.ok(await page.isVisible("#tab-audit"), "an owner sees the Audit tab");
  assert.ok(await page.isVisible("#phone-card"), "an owner may test-call");
  // Only A's call is listed.
  await until(() => document.querySelectorAll("#calls tr.pick").length >= 1, null, { timeout: 10000 });
  const rows = await page.evaluate(() => [...document.querySelectorAll("#calls tr.pick")].map((r) => r.dataset.callId));
  assert.deepEqual(rows, [aCalls[0].id]);
  // A's message, marked handled by a click.
  await page.click("#tab-messages");
  await until(() => document.querySelector("#caller-messages .card")?.textContent.includes("Ann Archer"), null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => document.querySelectorAll("#caller-messages .card").length), 1);
  await page.click("#caller-messages .mark-handled");
  await until(() => document.querySelector("#caller-messages").textContent.includes("all caught up"), null, { timeout: 10000 });
  await page.selectOption("#messages-filter", "handled");
  await until((email) => document.querySelector("#caller-messages .card.handled")?.textContent.includes("by " + email), OWNER.email, { timeout: 10000 });
  const marked = (await adminApi(`/api/audit?tenant=${A.id}&limit=200`)).items.find((e) => e.action === "message.marked");
  assert.ok(marked, "no message.marked in the audit log");
  assert.equal(marked.actor, OWNER.email);
  assert.equal(marked.actor_kind, "user");
  assert.equal(marked.object, aMessage.id);
  // The Audit view shows it (and A's sign-ins), paged.
  await page.click("#tab-audit");
  await until((email) => [...document.querySelectorAll("#audit tr")].some((r) => r.textContent.includes("Marked a message") && r.textContent.includes(email)), OWNER.email, { timeout: 10000 });
  assert.match(await text("#audit-range"), /^1–\d+ of \d+$/);
  await page.screenshot({ path: join(artifacts, "accounts-audit.png"), fullPage: true });
  for (const width of [390, 360]) {
    await page.setViewportSize({ width, height: 844 });
    for (const tab of ["calls", "messages", "audit"]) {
      await page.click(`#tab-${tab}`);
      await page.waitForTimeout(150);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= width, `${tab} view: ${wide} px wide at ${width} px`);
    }
  }
  await page.screenshot({ path: join(artifacts, "accounts-390.png"), fullPage: true });
  await page.setViewportSize({ width: 1440, height: 1000 });
  await page.click("#tab-calls");

  // Live, while owner A watches: a call on B, then one on A. The page's /logs
  // (opened with the cookie and its Origin, no ticket) carries A's call, and
  // never B's (its tenant is among bMarks, checked below).
  const seen = received.length;
  await placeCall(caller, B.id, 1);
  await placeCall(caller, A.id, 1);
  const feed = `ws://127.0.0.1:${port}/logs: `;
  for (let i = 0; ; i++) {
    const frames = received.slice(seen).filter((r) => r.startsWith(feed));
    if (frames.some((f) => f.includes('"type":"call_started"') && f.includes(`"tenant":"${A.id}"`))
      && frames.some((f) => f.includes('"type":"call_ended"'))) break;
    if (i > 100) throw new Error(`A's live call not on owner A's /logs: ${frames.join("\n")}`);
    await sleep(100);
  }
  await caller.close();

  // A page of another origin posts to /api/logout with the cookie: refused.
  const elsewhere = await context.newPage();
  const refusedBefore = server.logText().split("refused a cookie request from another origin").length - 1;
  await elsewhere.goto(evilOrigin + "/");
  await elsewhere.waitForURL(base + "/api/logout", { timeout: 5000 });
  assert.match(await elsewhere.textContent("body"), /cross-origin request refused/);
  await elsewhere.close();
  assert.equal(await me(), 200, "the session survived the cross-origin POST");
  for (let i = 0; ; i++) {
    const refused = server.logText().split("refused a cookie request from another origin").length - 1;
    if (refused - refusedBefore >= 2) break;
    if (i > 50) throw new Error(`the server did not log both refusals (${refused - refusedBefore})`);
    await sleep(100);
  }
  assert.match(server.logText(), new RegExp(`POST /api/logout: refused a cookie request from another origin \\(Some\\("${evilOrigin}"\\)\\)`));
  assert.ok(!(await adminApi(`/api/audit?tenant=${A.id}&limit=200`)).items.some((e) => e.action === "sign_out"), "signed out from another origin");

  // B's data never reached owner A: not on the page, not in any response.
  await page.waitForTimeout(5500); // one more refresh round
  const pageText = await page.evaluate(() => document.body.innerText + " " + document.body.innerHTML);
  for (const mark of bMarks) {
    assert.ok(!pageText.includes(mark), `the page shows B's ${mark}`);
    const leak = received.find((r) => r.includes(mark));
    assert.ok(!leak, `a response to owner A carries B's ${mark}: ${leak}`);
  }
  assert.ok(received.some((r) => r.includes(aCalls[0].id)), "the responses were captured");

  // Staff A: reads and marks, but no Audit, no softphone, no settings; /api/audit is 403.
  const staffContext = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const staff = await staffContext.newPage();
  await staff.goto(base + "/");
  await staff.fill("#email", STAFF.email);
  await staff.fill("#password", STAFF.password);
  await staff.click("#signin-button");
  await staff.waitForSelector("#app:not(.hidden)", { timeout: 5000 });
  assert.equal(await staff.textContent("#whoami"), `${STAFF.email} · staff · ${A.name}`);
  assert.equal(await staff.isVisible("#tab-audit"), false, "staff see no Audit tab");
  assert.equal(await staff.isVisible("#phone-card"), false, "staff cannot test-call");
  await staff.click("#tab-settings");
  assert.equal(await staff.isVisible("#settings-card"), false, "staff cannot edit settings");
  assert.equal(await staff.evaluate(async () => (await fetch("/api/audit")).status), 403);
  await staffContext.close();

  // Owner A signs out: the session is over on the server.
  await page.click("#logout");
  await page.waitForSelector("#signin-form", { state: "visible", timeout: 5000 });
  assert.equal(await me(), 401, "GET /api/me after signing out");
  assert.ok((await adminApi(`/api/audit?tenant=${A.id}&limit=200`)).items.some((e) => e.action === "sign_out" && e.actor === OWNER.email));
  const blocked = consoleLines.filter((l) => l.includes("Content Security Policy"));
  assert.deepEqual(blocked, [], "the dashboard's own code was blocked by its CSP");
  const logged = server.logText();
  for (const secret of [OWNER.password, STAFF.password]) assert.ok(!logged.includes(secret), "a password in the server log");
}, () => { evil.close(); rmSync(tmp, { recursive: true, force: true }); });
