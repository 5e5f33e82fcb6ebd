// Twilio's side of an outbound call, played with Twilio's own helper library
// (`twilio` on npm): switchboard's `POST /api/calls` asks the Twilio REST API
// (a local recorder standing in for api.twilio.com) to call the customer with
// `Url=…/twiml`; when the customer answers, the voice webhook is signed with
// the library's `getExpectedTwilioSignature`, exactly as Twilio signs it, and
// posted with `Direction=outbound-api`. The TwiML that comes back must be the
// document the library's `VoiceResponse` builds for the same
// `<Connect><Stream>` and parameters. A wrong signature is refused.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import twilio from 'twilio';
import WebSocket from 'ws';
import { freePort, spawnSwitchboard, stopSwitchboard, waitHealthy } from './harness.mjs';


const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'node-twilio-auth-token';
const ADMIN = 'node-twilio-admin';
const TENANT_NUMBER = '+15550100000';
const CUSTOMER = '+15550100001';
const CALL_SID = 'CA0123456789abcdef0123456789abcdef';

// api.twilio.com for Calls.json: records each request, answers 201 with a call.
function startRestRecorder() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, auth: req.headers.authorization,
        form: Object.fromEntries(new URLSearchParams(body)) });
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sid: CALL_SID, status: 'queued' }));
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, seen })));
}

const ctx = { dir: null, rest: null, server: null, port: 0 };

before(async () => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'switchboard-twilio-'));
  ctx.rest = await startRestRecorder();
  ctx.port = await freePort();
  const config = join(ctx.dir, 'config.toml');
  writeFileSync(config, `
[server]
bind = "127.0.0.1:${ctx.port}"
workers = 1
drain_timeout_secs = 0
[database]
url = "${join(ctx.dir, 'switchboard.db')}"
[twilio]
account_sid = "${ACCOUNT}"
api_base = "http://127.0.0.1:${ctx.rest.server.address().port}"
[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["${TENANT_NUMBER}"]
company_brief = "A family dental practice."
`);
  ctx.server = spawnSwitchboard(config, {
    cwd: ctx.dir,
    env: { ...process.env, RUST_LOG: 'warn', SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
      SWITCHBOARD_TWILIO__AUTH_TOKEN: AUTH_TOKEN },
  });
  await waitHealthy(ctx.port, ctx.server);
});

after(async () => {
  await stopSwitchboard(ctx.server);
  if (ctx.rest) ctx.rest.server.close();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('an outbound call is answered through a webhook signed by the Twilio library', async () => {
  const placed = await fetch(`http://127.0.0.1:${ctx.port}/api/calls`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenant: 'acme-dental', to: CUSTOMER }),
  });
  assert.equal(placed.status, 201, await placed.clone().text());
  assert.deepEqual(await placed.json(), { call_sid: CALL_SID });
  assert.equal(ctx.rest.seen.length, 1);
  const create = ctx.rest.seen[0];
  assert.equal(create.path, `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`);
  assert.equal(create.auth, `Basic ${Buffer.from(`${ACCOUNT}:${AUTH_TOKEN}`).toString('base64')}`);
  assert.deepEqual(create.form, {
    To: CUSTOMER, From: TENANT_NUMBER, Url: `http://127.0.0.1:${ctx.port}/twiml`, Method: 'POST',
  });

  // The customer answers: Twilio posts the voice webhook to that Url.
  const params = {
    CallSid: CALL_SID, AccountSid: ACCOUNT, From: TENANT_NUMBER, To: CUSTOMER,
    Called: CUSTOMER, Caller: TENANT_NUMBER, CallStatus: 'in-progress',
    Direction: 'outbound-api', ApiVersion: '2010-04-01',
  };
  const post = (signature) => fetch(create.form.Url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature },
    body: new URLSearchParams(params).toString(),
  });
  const forged = await post(twilio.getExpectedTwilioSignature('not-the-token', create.form.Url, params));
  assert.equal(forged.status, 403);
  const answered = await post(twilio.getExpectedTwilioSignature(AUTH_TOKEN, create.form.Url, params));
  assert.equal(answered.status, 200);
  assert.match(answered.headers.get('content-type'), /^text\/xml/);
  const body = await answered.text();

  const prewarm = /<Parameter name="prewarm" value="([0-9a-f]{32})"\/>/.exec(body);
  assert.ok(prewarm, `not pre-warmed: ${body}`);
  // The stream gets the call's own URL (a grant in the path, which Twilio signs).
  const streamUrl = /<Stream url="([^"]+)">/.exec(body)?.[1];
  assert.match(streamUrl ?? '', new RegExp(`^ws://127\\.0\\.0\\.1:${ctx.port}/media-stream/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`), body);
  const expected = new twilio.twiml.VoiceResponse();
  const stream = expected.connect().stream({ url: streamUrl });
  stream.parameter({ name: 'tenant', value: 'acme-dental' });
  stream.parameter({ name: 'from', value: CUSTOMER });
  stream.parameter({ name: 'to', value: TENANT_NUMBER });
  stream.parameter({ name: 'direction', value: 'outbound' });
  stream.parameter({ name: 'prewarm', value: prewarm[1] });
  assert.equal(body, expected.toString());

  // Twilio opens that URL, signing the upgrade with its library's algorithm:
  // accepted. A signature over the fixed /media-stream URL opens nothing.
  const upgrade = (url, signature) => new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { 'X-Twilio-Signature': signature } });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('error', () => resolve(0));
  });
  assert.equal(await upgrade(streamUrl, twilio.getExpectedTwilioSignature(AUTH_TOKEN, streamUrl, {})), 101);
  const fixed = `ws://127.0.0.1:${ctx.port}/media-stream`;
  assert.equal(await upgrade(fixed, twilio.getExpectedTwilioSignature(AUTH_TOKEN, fixed, {})), 403);
});
