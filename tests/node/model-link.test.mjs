// switchboard's model link — its own WebSocket client (src/call_tree/link/socket.rs: TCP,
// the RFC 6455 opening handshake, framing) — against the `ws` package's server
// standing in for the realtime model. ws checks the opening handshake itself
// (GET, `Upgrade: websocket`, a 16-byte base64 `Sec-WebSocket-Key`, version 13)
// and refuses anything else with 400, so a call that gets through proves the
// handshake to an implementation that is not ours; the test then checks what
// the link put in it (path, bearer key, Host) and that a call's audio flows both
// ways over the socket: the greeting to the Twilio stream, the caller's audio to
// the model.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort, sleep, spawnSwitchboard, stopSwitchboard, waitHealthy, writeConfig } from './harness.mjs';

const API_KEY = 'sk-node-model-link';
const TENANT_NUMBER = '+15550100000';
const CALLER = '+15550100001';
// One 20 ms µ-law frame each way (8 kHz: 160 bytes).
const GREETING = Buffer.alloc(160, 0x55);
const CALLER_AUDIO = Buffer.alloc(160, 0x2a);

// The realtime model: records each upgrade request and client event; answers
// `session.update` with `session.updated` and the greeting's `response.create`
// with one audio delta (OpenAI Realtime GA event shapes).
function startModel() {
  const seen = { upgrades: [], events: [], closes: [] };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (socket, req) => {
    seen.upgrades.push({ url: req.url, headers: req.headers });
    socket.on('close', (code) => seen.closes.push(code));
    socket.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'client events are text frames');
      const event = JSON.parse(data.toString());
      seen.events.push(event);
      if (event.type === 'session.update') {
        socket.send(JSON.stringify({ type: 'session.updated', event_id: 'ev_1', session: event.session }));
      } else if (event.type === 'response.create') {
        socket.send(JSON.stringify({ type: 'response.created', event_id: 'ev_2',
          response: { id: 'resp_1', object: 'realtime.response', status: 'in_progress', output: [] } }));
        socket.send(JSON.stringify({ type: 'response.output_audio.delta', event_id: 'ev_3',
          response_id: 'resp_1', item_id: 'item_1', output_index: 0, content_index: 0,
          delta: GREETING.toString('base64') }));
      }
    });
  });
  return new Promise((ok) => wss.on('listening', () => ok({ wss, seen })));
}

const ctx = { dir: null, model: null, server: null, port: 0 };

before(async () => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'switchboard-model-link-'));
  ctx.model = await startModel();
  ctx.port = await freePort();
  const config = writeConfig(ctx.dir, ctx.port, `
[model]
url = "ws://127.0.0.1:${ctx.model.wss.address().port}/v1/realtime"
[calls]
greet_caller = true
[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["${TENANT_NUMBER}"]
company_brief = "A family dental practice."
`);
  const env = { ...process.env, RUST_LOG: 'warn', SWITCHBOARD_MODEL__API_KEY: API_KEY };
  delete env.OPENAI_API_KEY;
  ctx.server = spawnSwitchboard(config, { cwd: ctx.dir, env });
  await waitHealthy(ctx.port, ctx.server);
});

after(async () => {
  await stopSwitchboard(ctx.server);
  if (ctx.model) ctx.model.wss.close();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

async function until(what, check, ms = 10000) {
  for (let waited = 0; waited < ms; waited += 20) {
    const value = check();
    if (value) return value;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("a call's model link opens against the ws server and carries audio both ways", async () => {
  // Twilio's media stream, as its Media Streams messages are documented.
  const stream = new WebSocket(`ws://127.0.0.1:${ctx.port}/media-stream`);
  const heard = [];
  stream.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.event === 'media') heard.push(Buffer.from(msg.media.payload, 'base64'));
  });
  await new Promise((ok, fail) => { stream.once('open', ok); stream.once('error', fail); });
  const streamSid = 'MZ00000000000000000000000000000042';
  stream.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  stream.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: {
    accountSid: 'AC00000000000000000000000000000001', streamSid,
    callSid: 'CA00000000000000000000000000000042', tracks: ['inbound'],
    customParameters: { from: CALLER, to: TENANT_NUMBER },
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));

  // The greeting the model sent reaches the caller, byte for byte.
  await until('the greeting at the Twilio stream',
    () => Buffer.concat(heard).length >= GREETING.length);
  assert.deepEqual(Buffer.concat(heard).subarray(0, GREETING.length), GREETING);

  const { seen } = ctx.model;
  assert.equal(seen.upgrades.length, 1, 'one model connection');
  const [upgrade] = seen.upgrades;
  assert.match(upgrade.url, /^\/v1\/realtime(\?|$)/);
  assert.equal(upgrade.headers.authorization, `Bearer ${API_KEY}`);
  assert.equal(upgrade.headers.host, `127.0.0.1:${ctx.model.wss.address().port}`);
  assert.equal(upgrade.headers['sec-websocket-version'], '13');
  assert.equal(seen.events[0].type, 'session.update');
  assert.equal(seen.events.filter((e) => e.type === 'response.create').length, 1);

  // The caller speaks: the frame's payload reaches the model unchanged.
  stream.send(JSON.stringify({ event: 'media', sequenceNumber: '2', streamSid,
    media: { track: 'inbound', chunk: '1', timestamp: '20', payload: CALLER_AUDIO.toString('base64') } }));
  const append = await until('the caller audio at the model',
    () => seen.events.find((e) => e.type === 'input_audio_buffer.append'));
  assert.equal(append.audio, CALLER_AUDIO.toString('base64'));

  stream.send(JSON.stringify({ event: 'stop', sequenceNumber: '3', streamSid,
    stop: { accountSid: 'AC00000000000000000000000000000001', callSid: 'CA00000000000000000000000000000042' } }));
  // The call's end closes the model socket with a close frame (1000), not a drop.
  await until('the model socket closed', () => seen.closes.length > 0);
  assert.deepEqual(seen.closes, [1000]);
  stream.close();
});
