// Twilio's side of an outbound call and of a warm transfer, played with Twilio's own helper library
// (`twilio` on npm): switchboard's `POST /api/calls` asks the Twilio REST API
// (a local recorder standing in for api.twilio.com) to call the customer with
// `Url=…/twiml`; when the customer answers, the voice webhook is signed with
// the library's `getExpectedTwilioSignature`, exactly as Twilio signs it, and
// posted with `Direction=outbound-api`. The TwiML that comes back must be the
// document the library's `VoiceResponse` builds for the same
// `<Connect><Stream>` and parameters. A wrong signature is refused. The call
// asks for answering machine detection; Twilio's AMD callback, signed by the
// library, with `AnsweredBy=machine_end_beep` replaces the call's TwiML with
// the voicemail the library's `VoiceResponse` builds (`say(script)`, `hangup()`).
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
const AMD_CALL_SID = 'CA0123456789abcdef0123456789abcd0a';
const ON_CALL = '+15550100002';

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
      res.end(JSON.stringify({ sid: ctx.callSid, status: 'queued' }));
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, seen })));
}

const ctx = { dir: null, rest: null, server: null, port: 0, callSid: CALL_SID };

const AMD_FIELDS = (port) => ({
  MachineDetection: 'DetectMessageEnd', AsyncAmd: 'true',
  AsyncAmdStatusCallback: `http://127.0.0.1:${port}/twiml/amd?tenant=acme-dental`,
  AsyncAmdStatusCallbackMethod: 'POST',
});

/** `POST /api/calls` to CUSTOMER; the Calls.json request the recorder got. */
async function placeCall() {
  const before = ctx.rest.seen.length;
  const placed = await fetch(`http://127.0.0.1:${ctx.port}/api/calls`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenant: 'acme-dental', to: CUSTOMER }),
  });
  assert.equal(placed.status, 201, await placed.clone().text());
  assert.deepEqual(await placed.json(), { call_sid: ctx.callSid });
  assert.equal(ctx.rest.seen.length, before + 1);
  return ctx.rest.seen[before];
}

/** The customer answers: the voice webhook for `callSid`, signed with `token`. */
function answer(create, callSid, token) {
  const params = {
    CallSid: callSid, AccountSid: ACCOUNT, From: TENANT_NUMBER, To: CUSTOMER,
    Called: CUSTOMER, Caller: TENANT_NUMBER, CallStatus: 'in-progress',
    Direction: 'outbound-api', ApiVersion: '2010-04-01',
  };
  return fetch(create.form.Url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': twilio.getExpectedTwilioSignature(token, create.form.Url, params) },
    body: new URLSearchParams(params).toString(),
  });
}

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
transfer_numbers = ["${ON_CALL}"]
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
  ctx.callSid = CALL_SID;
  const create = await placeCall();
  assert.equal(create.path, `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`);
  assert.equal(create.auth, `Basic ${Buffer.from(`${ACCOUNT}:${AUTH_TOKEN}`).toString('base64')}`);
  assert.deepEqual(create.form, {
    To: CUSTOMER, From: TENANT_NUMBER, Url: `http://127.0.0.1:${ctx.port}/twiml`, Method: 'POST',
    ...AMD_FIELDS(ctx.port),
  });

  // The customer answers: Twilio posts the voice webhook to that Url.
  const forged = await answer(create, CALL_SID, 'not-the-token');
  assert.equal(forged.status, 403);
  const answered = await answer(create, CALL_SID, AUTH_TOKEN);
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

test('an answering machine gets the voicemail VoiceResponse builds, then a hang-up', async () => {
  ctx.callSid = AMD_CALL_SID;
  const create = await placeCall();
  const answered = await answer(create, AMD_CALL_SID, AUTH_TOKEN);
  assert.equal(answered.status, 200);
  const body = await answered.text();
  const streamUrl = /<Stream url="([^"]+)">/.exec(body)?.[1];
  const parameters = Object.fromEntries(
    [...body.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1], m[2]]));

  // The customer's stream starts, as Twilio sends it.
  const ws = new WebSocket(streamUrl, {
    headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, streamUrl, {}) },
  });
  await new Promise((ok, fail) => { ws.on('open', ok); ws.on('error', fail); });
  const streamSid = 'MZ0123456789abcdef0123456789abcdef';
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: {
    streamSid, accountSid: ACCOUNT, callSid: AMD_CALL_SID, tracks: ['inbound'],
    customParameters: parameters,
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
  const closed = new Promise((ok) => ws.on('close', (code) => ok(code)));

  // Live on the server (GET /api/calls/live lists it).
  for (let i = 0; ; i++) {
    const live = await (await fetch(`http://127.0.0.1:${ctx.port}/api/calls/live`,
      { headers: { Authorization: `Bearer ${ADMIN}` } })).json();
    if (live.calls.some((c) => c.call_sid === AMD_CALL_SID)) break;
    assert.ok(i < 50, JSON.stringify(live));
    await new Promise((r) => setTimeout(r, 100));
  }

  // Twilio's AMD verdict, posted to the AsyncAmdStatusCallback it was given.
  const amdUrl = create.form.AsyncAmdStatusCallback;
  const verdict = { CallSid: AMD_CALL_SID, AccountSid: ACCOUNT, AnsweredBy: 'machine_end_beep',
    MachineDetectionDuration: '2430' };
  const postAmd = (token) => fetch(amdUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': twilio.getExpectedTwilioSignature(token, amdUrl, verdict) },
    body: new URLSearchParams(verdict).toString(),
  });
  assert.equal((await postAmd('not-the-token')).status, 403);
  const seen = ctx.rest.seen.length;
  assert.equal((await postAmd(AUTH_TOKEN)).status, 204);
  assert.equal(ctx.rest.seen.length, seen + 1);
  const update = ctx.rest.seen[seen];
  assert.equal(update.path, `/2010-04-01/Accounts/${ACCOUNT}/Calls/${AMD_CALL_SID}.json`);
  const expected = new twilio.twiml.VoiceResponse();
  expected.say('Hello, this is the receptionist at Acme Dental. We\'re returning your call; '
    + 'please call us back at 1 5 5 5 0 1 0 0 0 0 0. Goodbye.');
  expected.hangup();
  assert.deepEqual(update.form, { Twiml: expected.toString() });

  // Twilio ends the stream as the new TwiML takes over; the call is stored as
  // ended by the answering machine.
  ws.send(JSON.stringify({ event: 'stop', sequenceNumber: '2', streamSid,
    stop: { accountSid: ACCOUNT, callSid: AMD_CALL_SID } }));
  await closed;
  for (let i = 0; ; i++) {
    const row = await (await fetch(`http://127.0.0.1:${ctx.port}/api/calls/${AMD_CALL_SID}`,
      { headers: { Authorization: `Bearer ${ADMIN}` } })).json();
    if (row.call?.ended_at) {
      assert.equal(row.call.ended_reason, 'answering_machine');
      assert.equal(row.call.answered_by, 'machine_end_beep');
      break;
    }
    assert.ok(i < 50, JSON.stringify(row));
    await new Promise((r) => setTimeout(r, 100));
  }
});

// Twilio's webhooks signed the library's way, form-encoded.
const signedPost = (url, params) => fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded',
    'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params) },
  body: new URLSearchParams(params).toString(),
});

// Opens a Media Stream as Twilio does and sends `connected` and `start`.
async function openStream(url, callSid, streamSid, parameters) {
  const ws = new WebSocket(url, { headers: {
    'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, {}) } });
  await new Promise((ok, fail) => { ws.on('open', ok); ws.on('error', fail); });
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: {
    accountSid: ACCOUNT, streamSid, callSid, tracks: ['inbound'], customParameters: parameters,
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
  return ws;
}

// Twilio ends a stream whose call's TwiML was replaced: `stop`, then close.
function endStream(ws, callSid, streamSid) {
  ws.send(JSON.stringify({ event: 'stop', sequenceNumber: '2', streamSid,
    stop: { accountSid: ACCOUNT, callSid } }));
  ws.close(1000);
}

async function liveCallId(port, callSid) {
  for (let i = 0; i < 100; i += 1) {
    const live = await (await fetch(`http://127.0.0.1:${port}/api/calls/live`, {
      headers: { Authorization: `Bearer ${ADMIN}` } })).json();
    const call = live.calls.find((c) => c.call_sid === callSid);
    if (call) return call.call_id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`call ${callSid} never went live`);
}

// An operator's transfer of the live call `id`: the REST update it causes.
async function transfer(port, id, reason) {
  const before = ctx.rest.seen.length;
  const asked = await fetch(`http://127.0.0.1:${port}/api/calls/${id}/transfer`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason }),
  });
  assert.equal(asked.status, 200, await asked.clone().text());
  for (let i = 0; i < 100 && ctx.rest.seen.length === before; i += 1) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return ctx.rest.seen[before];
}

test('a warm transfer speaks TwiML as the Twilio library builds it, and comes back', async () => {
  const base = `http://127.0.0.1:${ctx.port}`;
  const callSid = 'CA00000000000000000000000000000023';
  const params = { CallSid: callSid, AccountSid: ACCOUNT, From: CUSTOMER, To: TENANT_NUMBER,
    CallStatus: 'in-progress', Direction: 'inbound', ApiVersion: '2010-04-01' };
  const answered = await signedPost(`${base}/twiml`, params);
  const first = await answered.text();
  const streamUrl = /<Stream url="([^"]+)">/.exec(first)?.[1];
  const parameters = Object.fromEntries([...first.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)]
    .map((m) => [m[1], m[2]]));
  let ws = await openStream(streamUrl, callSid, 'MZ00000000000000000000000000000001', parameters);
  const id = await liveCallId(ctx.port, callSid);

  // The transfer: <Dial action timeout><Number url>, as the library writes it.
  let update = await transfer(ctx.port, id, 'caller asked for Dr Lee');
  assert.equal(update.path, `/2010-04-01/Accounts/${ACCOUNT}/Calls/${callSid}.json`);
  const action = `${base}/twiml/dial-action?call=${id}`;
  const screen = `${base}/twiml/screen?call=${id}`;
  let expected = new twilio.twiml.VoiceResponse();
  expected.dial({ action, timeout: 20 }).number({ url: screen }, ON_CALL);
  assert.equal(update.form.Twiml, expected.toString());
  endStream(ws, callSid, 'MZ00000000000000000000000000000001');

  // Screening on the on-call person's leg: <Gather numDigits action timeout><Say>, <Hangup/>.
  const leg = { CallSid: 'CA00000000000000000000000000000024', AccountSid: ACCOUNT, CallStatus: 'in-progress' };
  const forged = await fetch(screen, { method: 'POST',
    headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature('wrong', screen, leg) },
    body: new URLSearchParams(leg).toString() });
  assert.equal(forged.status, 403);
  const prompt = await (await signedPost(screen, leg)).text();
  const said = /<Say>([^<]*)<\/Say>/.exec(prompt)?.[1] ?? '';
  assert.match(said, /^Transferred call for Acme Dental from .*Reason: caller asked for Dr Lee\. Press 1 to take the call\.$/);
  expected = new twilio.twiml.VoiceResponse();
  expected.gather({ numDigits: 1, action: `${base}/twiml/screen-result?call=${id}`, timeout: 8 }).say(said);
  expected.hangup();
  assert.equal(prompt, expected.toString());

  // They press 2: declined, <Say> then <Hangup/>.
  const declined = await (await signedPost(`${base}/twiml/screen-result?call=${id}`, { ...leg, Digits: '2' })).text();
  expected = new twilio.twiml.VoiceResponse();
  expected.say(/<Say>([^<]*)<\/Say>/.exec(declined)?.[1] ?? '');
  expected.hangup();
  assert.equal(declined, expected.toString());

  // The Dial action: not bridged, so a <Connect><Stream> continuing the call.
  const dialDone = { CallSid: callSid, AccountSid: ACCOUNT, DialCallSid: leg.CallSid,
    DialCallStatus: 'completed', DialCallDuration: '3' };
  const wayBack = await (await signedPost(action, dialDone)).text();
  const backUrl = /<Stream url="([^"]+)">/.exec(wayBack)?.[1];
  const backParams = [...wayBack.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1], m[2]]);
  assert.deepEqual(backParams.map(([n]) => n), ['tenant', 'from', 'to', 'prewarm']);
  expected = new twilio.twiml.VoiceResponse();
  const stream = expected.connect().stream({ url: backUrl });
  for (const [name, value] of backParams) stream.parameter({ name, value });
  assert.equal(wayBack, expected.toString());

  // The way-back stream continues the same call, which can be transferred again.
  ws = await openStream(backUrl, callSid, 'MZ00000000000000000000000000000002', Object.fromEntries(backParams));
  assert.equal(await liveCallId(ctx.port, callSid), id);
  update = await transfer(ctx.port, id, 'try again');
  endStream(ws, callSid, 'MZ00000000000000000000000000000002');
  // Pressing 1 answers an empty document (Twilio then bridges).
  const taken = await (await signedPost(`${base}/twiml/screen-result?call=${id}`, { ...leg, Digits: '1' })).text();
  assert.equal(taken.replace('<Response></Response>', '<Response/>'), new twilio.twiml.VoiceResponse().toString());
  // Bridged: the caller's leg hangs up.
  const bridged = await (await signedPost(action, { ...dialDone, DialCallDuration: '42', DialBridged: 'true' })).text();
  expected = new twilio.twiml.VoiceResponse();
  expected.hangup();
  assert.equal(bridged, expected.toString());
  let mine = [];
  for (let i = 0; i < 100; i += 1) {
    const rows = await (await fetch(`${base}/api/calls`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json();
    mine = rows.filter((c) => c.carrier_call_sid === callSid);
    if (mine.some((c) => c.ended_reason)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(mine.length, 1, JSON.stringify(mine));
  assert.equal(mine[0].ended_reason, 'transferred: try again');
});
