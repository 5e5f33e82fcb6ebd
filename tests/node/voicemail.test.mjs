// Voicemail on Twilio, played with Twilio's own helper library (`twilio` on
// npm): the realtime model (the `ws` package's server) refuses every
// connection, so once switchboard's restart budget is spent it replaces the
// live call's TwiML through the REST API (a local recorder standing in for
// api.twilio.com). That document must be exactly what the library's
// `VoiceResponse` builds for `<Say>` + `<Record>`. Twilio then posts the
// recording's status callback, signed with the library's
// `getExpectedTwilioSignature`; switchboard fetches the WAV from the REST API
// and the owner's inbox lists a voicemail with that audio. A forged callback
// is refused.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import twilio from 'twilio';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort, root, sleep, spawnSwitchboard, stopSwitchboard, waitHealthy, writeConfig } from './harness.mjs';

const ACCOUNT = 'AC0123456789abcdef0123456789abcd23';
const AUTH_TOKEN = 'node-voicemail-auth-token';
const ADMIN = 'node-voicemail-admin';
const TENANT_NUMBER = '+15550100000';
const CALLER = '+15550100001';
const CALL_SID = 'CA0123456789abcdef0123456789abcd23';
const RECORDING_SID = 'RE0123456789abcdef0123456789abcd23';
const PROMPT = "Sorry, the receptionist can't take your call right now. Please leave a message after the tone.";
const RECORDING = readFileSync(join(root, 'assets/audio/caller-message.wav'));

// api.twilio.com: records each request; serves the recording's WAV.
function startRest() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, auth: req.headers.authorization,
        form: Object.fromEntries(new URLSearchParams(body)) });
      if (req.method === 'GET' && req.url.endsWith(`/Recordings/${RECORDING_SID}.wav`)) {
        res.writeHead(200, { 'Content-Type': 'audio/x-wav' });
        res.end(RECORDING);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sid: CALL_SID, status: 'in-progress' }));
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, seen })));
}

// The realtime model, gone: every upgrade is answered 503.
function startGoneModel() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0,
    verifyClient: (_info, done) => done(false, 503, 'Service Unavailable') });
  return new Promise((ok) => wss.on('listening', () => ok(wss)));
}

const ctx = { dir: null, rest: null, model: null, server: null, port: 0 };

before(async () => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'switchboard-voicemail-'));
  ctx.rest = await startRest();
  ctx.model = await startGoneModel();
  ctx.port = await freePort();
  const config = writeConfig(ctx.dir, ctx.port, `
[model]
url = "ws://127.0.0.1:${ctx.model.address().port}/v1/realtime"
restart_attempts = 1
restart_backoff_ms = 100
[calls]
prewarm = false
[twilio]
account_sid = "${ACCOUNT}"
api_base = "http://127.0.0.1:${ctx.rest.server.address().port}"
[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["${TENANT_NUMBER}"]
company_brief = "A family dental practice."
`);
  const env = { ...process.env, RUST_LOG: 'warn', SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
    SWITCHBOARD_TWILIO__AUTH_TOKEN: AUTH_TOKEN, SWITCHBOARD_MODEL__API_KEY: 'sk-node-voicemail' };
  delete env.OPENAI_API_KEY;
  ctx.server = spawnSwitchboard(config, { cwd: ctx.dir, env });
  await waitHealthy(ctx.port, ctx.server);
});

after(async () => {
  await stopSwitchboard(ctx.server);
  if (ctx.rest) ctx.rest.server.close();
  if (ctx.model) ctx.model.close();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

const post = (url, params, signature) => fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature },
  body: new URLSearchParams(params).toString(),
});

test('with the model gone, Twilio records a voicemail and its signed callback files it', async () => {
  // The call rings: the voice webhook, signed by the library.
  const voiceUrl = `http://127.0.0.1:${ctx.port}/twiml`;
  const voice = { CallSid: CALL_SID, AccountSid: ACCOUNT, From: CALLER, To: TENANT_NUMBER,
    CallStatus: 'ringing', Direction: 'inbound', ApiVersion: '2010-04-01' };
  const answered = await post(voiceUrl, voice, twilio.getExpectedTwilioSignature(AUTH_TOKEN, voiceUrl, voice));
  assert.equal(answered.status, 200);
  const streamUrl = /<Stream url="([^"]+)">/.exec(await answered.text())?.[1];
  assert.ok(streamUrl);

  // Twilio opens the stream (signed upgrade) and starts it.
  const ws = new WebSocket(streamUrl, { headers: {
    'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, streamUrl, {}) } });
  await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
  const streamSid = 'MZ0123456789abcdef0123456789abcd23';
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: {
    streamSid, accountSid: ACCOUNT, callSid: CALL_SID, tracks: ['inbound'], customParameters: {},
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
  const silence = Buffer.alloc(160, 0xff).toString('base64');
  let update;
  for (let i = 0; i < 150 && !update; i++) {
    ws.send(JSON.stringify({ event: 'media', sequenceNumber: String(i + 2), streamSid,
      media: { track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20), payload: silence } }));
    await sleep(100);
    update = ctx.rest.seen.find((r) => r.path === `/2010-04-01/Accounts/${ACCOUNT}/Calls/${CALL_SID}.json`);
  }
  assert.ok(update, 'the call TwiML was never replaced');
  assert.equal(update.auth, `Basic ${Buffer.from(`${ACCOUNT}:${AUTH_TOKEN}`).toString('base64')}`);

  // The document is the library's own <Say> + <Record>.
  const document = update.form.Twiml;
  const action = /action="([^"]+)"/.exec(document)?.[1];
  const statusUrl = /recordingStatusCallback="([^"]+)"/.exec(document)?.[1];
  assert.match(action ?? '', new RegExp(`^http://127\\.0\\.0\\.1:${ctx.port}/twiml/voicemail/done\\?call=[0-9a-f-]{36}$`));
  assert.match(statusUrl ?? '', /\/twiml\/voicemail\/recording\?call=[0-9a-f-]{36}$/);
  const expected = new twilio.twiml.VoiceResponse();
  expected.say(PROMPT);
  expected.record({ action, maxLength: 120, playBeep: true, recordingStatusCallback: statusUrl,
    recordingStatusCallbackEvent: 'completed', timeout: 4 });
  assert.equal(document, expected.toString());

  // Twilio ends the stream and runs it; the caller speaks; the recording is ready.
  ws.send(JSON.stringify({ event: 'stop', sequenceNumber: '999', streamSid,
    stop: { accountSid: ACCOUNT, callSid: CALL_SID } }));
  ws.close();
  const recording = { AccountSid: ACCOUNT, CallSid: CALL_SID, RecordingSid: RECORDING_SID,
    RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}/Recordings/${RECORDING_SID}`,
    RecordingStatus: 'completed', RecordingDuration: '6', RecordingChannels: '1',
    RecordingSource: 'RecordVerb' };
  const forged = await post(statusUrl, recording,
    twilio.getExpectedTwilioSignature('not-the-token', statusUrl, recording));
  assert.equal(forged.status, 403);
  const filed = await post(statusUrl, recording,
    twilio.getExpectedTwilioSignature(AUTH_TOKEN, statusUrl, recording));
  assert.equal(filed.status, 204, await filed.text());

  // The action ends the call the library's way.
  const done = await post(action, recording, twilio.getExpectedTwilioSignature(AUTH_TOKEN, action, recording));
  assert.equal(done.status, 200);
  const goodbye = new twilio.twiml.VoiceResponse();
  goodbye.say('Thank you. Your message has been passed on. Goodbye.');
  goodbye.hangup();
  assert.equal(await done.text(), goodbye.toString());

  // The owner's inbox has it, with Twilio's recording as its audio.
  const inbox = await fetch(`http://127.0.0.1:${ctx.port}/api/caller-messages`,
    { headers: { Authorization: `Bearer ${ADMIN}` } });
  const page = await inbox.json();
  assert.equal(page.total, 1, JSON.stringify(page));
  assert.equal(page.items[0].kind, 'voicemail');
  assert.equal(page.items[0].caller_phone, CALLER);
  const audio = await fetch(`http://127.0.0.1:${ctx.port}${page.items[0].audio_url}`,
    { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(audio.status, 200);
  assert.equal(audio.headers.get('content-type'), 'audio/wav');
  assert.deepEqual(Buffer.from(await audio.arrayBuffer()), RECORDING);
});
