// jambonz as jambonz really runs it: this test connects to the real switchboard
// binary the way jambonz-feature-server 0.9.8 does (lib/utils/ws-requestor.js:
// the `ws` package, subprotocol `ws.jambonz.org`, `auth: 'user:pass'` → HTTP Basic
// on the upgrade, maxPayload 24 KiB), plays frames shaped exactly as feature-server
// sends them (tests/fixtures/jambonz), and checks every message switchboard sends:
//
//  - what ws-requestor `_onMessage` accepts: JSON with `type` `ack` (with `msgid`)
//    or `command` (with `command`, and `data` unless the command needs none);
//  - every verb array (acks and redirects) with jambonz's own validator,
//    `@jambonz/verb-specifications` `validate()` — the one feature-server's
//    make_task.js runs on every verb;
//  - what the llm vendor modules require before they start (openai_s2s.js and
//    ultravox_s2s.js: `auth.apiKey`; OpenAI `llmOptions.response_create` an
//    object) and accept as tool output / llm:update (`conversation.item.create`,
//    `client_tool_result`, `session.update`).
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
//
// Each server is stopped (SIGTERM, then SIGKILL) in `finally`, after a failure too;
// one that never became healthy is stopped before the error is thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { validate } from '@jambonz/verb-specifications';
import { freePort, root, sleep, spawnSwitchboard, stopSwitchboard } from './harness.mjs';

const fixtures = join(root, 'tests/fixtures/jambonz');

const JB_USER = 'jambonz';
const JB_PASSWORD = 'node-jb-s3cret';
const OPENAI_KEY = 'sk-node-openai';
const ULTRAVOX_KEY = 'uv-node-ultravox';
const ACME = '+15550100000';
const VOX = '+15550200000';
const GROK = '+15550300000';
// feature-server 0.9.8 ws-requestor.js: commands that carry no `data`.
const MTYPE_NO_DATA = ['llm:tool-output', 'tts:flush', 'tts:clear'];
// openai_s2s.js processLlmUpdate: the event types it forwards.
const OPENAI_UPDATES = ['session.update', 'conversation.item.create', 'conversation.item.delete', 'response.cancel'];

// What the validator logs goes nowhere; failures throw.
const logger = { info() {}, debug() {}, error() {}, warn() {} };

async function startServer({ keys }) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-jambonz-'));
  const port = await freePort();
  const config = join(dir, 'config.toml');
  const tenant = (id, number, provider, extra = '') => `
[[tenants]]
id = "${id}"
name = "${id} office"
phone_numbers = ["${number}"]
company_brief = "A small business."
provider = "${provider}"
${extra}`;
  writeFileSync(config, `
[server]
bind = "127.0.0.1:${port}"
workers = 1
drain_timeout_secs = 0
[database]
url = "${join(dir, 'switchboard.db')}"
spool_file = "${join(dir, 'spool.jsonl')}"
[simulator]
script = "${join(root, 'assets/sim/script.toml')}"
clips_dir = "${join(root, 'assets/sim')}"
[jambonz]
farewell_delay_ms = 100
username = "${JB_USER}"
${tenant('acme-dental', ACME, 'openai', 'transfer_numbers = ["+15550109999"]')}
${tenant('bright-vox', VOX, 'ultravox')}
${tenant('grok-plumbing', GROK, 'xai')}
`);
  const env = { ...process.env, RUST_LOG: 'warn', SWITCHBOARD_SERVER__ADMIN_TOKEN: 'node-admin',
    SWITCHBOARD_JAMBONZ__PASSWORD: JB_PASSWORD };
  for (const name of ['SWITCHBOARD_MODEL__API_KEY', 'OPENAI_API_KEY', 'XAI_API_KEY', 'ULTRAVOX_API_KEY']) {
    delete env[name];
  }
  Object.assign(env, keys);
  const child = spawnSwitchboard(config, { cwd: dir, env });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  // SIGTERM, then SIGKILL after 5 s; then the temp folder goes.
  const stop = async () => {
    await stopSwitchboard(child);
    rmSync(dir, { recursive: true, force: true });
  };
  let healthy = false;
  for (let i = 0; i < 150 && !healthy && !exited(); i++) {
    try {
      healthy = (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
    } catch { /* not up yet */ }
    if (!healthy) await sleep(100);
  }
  if (!healthy) {
    const why = exited() ? `exited (${child.exitCode ?? child.signalCode})` : 'did not become healthy';
    await stop();
    throw new Error(`switchboard ${why}`);
  }
  return { url: `ws://127.0.0.1:${port}/jambonz`, stop };
}

// Every verb array switchboard sent, by where it came from (for the coverage check).
const validated = [];

// Checks one app → jambonz message as feature-server would; returns it parsed.
function checkAppMessage(text, conn) {
  const msg = JSON.parse(text);
  assert.ok(msg.type, `type property not supplied: ${text}`);
  assert.ok(['ack', 'command'].includes(msg.type), `invalid type property: ${msg.type}`);
  if (msg.type === 'ack') {
    assert.ok(msg.msgid, 'msgid not supplied');
    if (msg.data !== undefined) {
      validate(logger, msg.data);
      validated.push({ source: `ack ${conn.lastAcked(msg.msgid)}`, verbs: msg.data });
      for (const verb of msg.data) checkVendorVerb(verb, conn);
    }
  } else {
    assert.ok(msg.command, 'command property not supplied');
    assert.ok(msg.data || MTYPE_NO_DATA.includes(msg.command), `data property not supplied: ${text}`);
    if (msg.command === 'redirect') {
      assert.ok(Array.isArray(msg.data), 'redirect carries a verb array');
      validate(logger, msg.data);
      validated.push({ source: 'redirect', verbs: msg.data });
    } else if (msg.command === 'llm:tool-output') {
      assert.ok(msg.tool_call_id, 'llm:tool-output needs tool_call_id');
      if (conn.vendor === 'openai') {
        assert.equal(msg.data.type, 'conversation.item.create');
        assert.equal(msg.data.item.type, 'function_call_output');
        assert.equal(msg.data.item.call_id, msg.tool_call_id);
        assert.equal(typeof msg.data.item.output, 'string');
      } else {
        assert.equal(msg.data.type, 'client_tool_result');
        assert.equal(msg.data.invocation_id, msg.tool_call_id);
        assert.equal(typeof msg.data.result, 'string');
      }
    } else if (msg.command === 'llm:update') {
      assert.equal(conn.vendor, 'openai', 'Ultravox takes only input_text_message');
      assert.ok(OPENAI_UPDATES.includes(msg.data.type), msg.data.type);
    } else {
      assert.fail(`unexpected command ${msg.command}`);
    }
  }
  return msg;
}

// What the llm vendor modules check before they start (else SIP 480).
function checkVendorVerb(verb, conn) {
  if (verb.verb !== 'llm') return;
  assert.ok(['openai', 'ultravox'].includes(verb.vendor), verb.vendor);
  assert.equal(typeof verb.auth?.apiKey, 'string');
  assert.ok(verb.auth.apiKey.length > 0, 'auth.apiKey is required');
  if (verb.vendor === 'openai') {
    assert.equal(typeof verb.llmOptions.response_create, 'object', 'response_create is required');
    assert.equal(typeof verb.llmOptions.session_update, 'object');
  } else {
    assert.equal(typeof verb.llmOptions.systemPrompt, 'string');
  }
  conn.vendor = verb.vendor;
}

// One application socket, opened with feature-server's own ws options.
class JambonzConn {
  constructor(url, password = JB_PASSWORD) {
    this.messages = [];
    this.waiters = [];
    this.sent = new Map();
    this.vendor = null;
    this.ws = new WebSocket(url, ['ws.jambonz.org'], {
      followRedirects: true,
      maxRedirects: 2,
      handshakeTimeout: 1500,
      maxPayload: 24 * 1024,
      headers: {},
      auth: `${JB_USER}:${password}`,
    });
    this.closed = new Promise((res) => this.ws.on('close', (code) => res(code)));
    this.ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'only text frames');
      this.messages.push(checkAppMessage(data.toString(), this));
      this.waiters.forEach((w) => w());
    });
    this.opened = new Promise((res, rej) => {
      this.ws.once('open', res);
      this.ws.once('unexpected-response', (_req, resp) => rej(new Error(`HTTP ${resp.statusCode}`)));
      this.ws.once('error', rej);
    });
  }
  lastAcked(msgid) { return this.sent.get(msgid) || 'unknown'; }
  // A fixture frame for `callSid` (and `to` for session messages), sent.
  send(name, callSid, patch = {}) {
    const msg = JSON.parse(readFileSync(join(fixtures, name), 'utf8'));
    msg.call_sid = callSid;
    if (msg.type !== 'dial:confirm' && msg.data.call_sid) msg.data.call_sid = callSid;
    Object.assign(msg.data, patch);
    this.sent.set(msg.msgid, msg.type === 'verb:hook' ? `${msg.type} ${msg.hook}` : msg.type);
    this.ws.send(JSON.stringify(msg));
    return msg;
  }
  async next(pred, ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`timed out; have ${JSON.stringify(this.messages)}`);
      await new Promise((res) => {
        const t = setTimeout(res, 100);
        this.waiters.push(() => { clearTimeout(t); res(); });
      });
      this.waiters = [];
    }
  }
  close() { this.ws.close(1000); }
}

const sid = () => crypto.randomUUID();
const ackOf = (msgid) => (m) => m.type === 'ack' && m.msgid === msgid;
const command = (name) => (m) => m.type === 'command' && m.command === name;

test('every verb switchboard sends jambonz passes jambonz\'s own validator', async () => {
  const server = await startServer({ keys: { OPENAI_API_KEY: OPENAI_KEY, ULTRAVOX_API_KEY: ULTRAVOX_KEY } });
  try {
    // Wrong Basic credentials: refused before the upgrade.
    const intruder = new JambonzConn(server.url, 'guess');
    await assert.rejects(intruder.opened, /HTTP 401/);

    // OpenAI tenant: llm verb, a tool, a transfer (dial + screening), the killed
    // verb's actionHook, a declined screening and the way back to the llm verb,
    // a second transfer taken and bridged; then a second call that the
    // assistant hangs up.
    let call = sid();
    let jb = new JambonzConn(server.url);
    await jb.opened;
    let sent = jb.send('session-new.json', call, { to: ACME });
    let ack = await jb.next(ackOf(sent.msgid));
    assert.equal(ack.data[0].vendor, 'openai');
    assert.equal(ack.data[0].auth.apiKey, OPENAI_KEY);
    jb.send('call-status-in-progress.json', call);
    jb.send('llm-event-openai-response-created.json', call);
    jb.send('llm-tool-call-openai.json', call);
    await jb.next(command('llm:tool-output'));
    jb.send('llm-tool-call-openai.json', call, {
      tool_call_id: 'call_xfer', name: 'transferToOnCall', args: { reason: 'emergency' } });
    await jb.next(command('llm:tool-output'));
    let dial = await jb.next(command('redirect'));
    assert.equal(dial.data[0].verb, 'dial');
    assert.equal(dial.data[0].target[0].confirmHook, '/screen');
    sent = jb.send('verb-hook-llm-done.json', call);
    assert.equal((await jb.next(ackOf(sent.msgid))).data, undefined);
    // Screening: a one-key gather, then hangup; 2 declines (say, hangup).
    sent = jb.send('dial-confirm.json', call);
    assert.deepEqual((await jb.next(ackOf(sent.msgid))).data.map((v) => v.verb), ['gather', 'hangup']);
    sent = jb.send('verb-hook-screen-result.json', call, { digits: '2' });
    assert.deepEqual((await jb.next(ackOf(sent.msgid))).data.map((v) => v.verb), ['say', 'hangup']);
    // The dial ends unbridged: the llm verb again, with the conversation and why.
    sent = jb.send('verb-hook-dial-done.json', call, { dial_call_status: 'completed' });
    const back = await jb.next(ackOf(sent.msgid));
    assert.equal(back.data[0].verb, 'llm');
    assert.match(back.data[0].llmOptions.session_update.instructions,
      /The transfer to the on-call person failed: the on-call person could not take the call\./);
    // Transferred again; 1 takes it (no verbs left: jambonz bridges); the bridged call ends.
    jb.send('llm-tool-call-openai.json', call, {
      tool_call_id: 'call_xfer_2', name: 'transferToOnCall', args: { reason: 'emergency' } });
    await jb.next(command('llm:tool-output'));
    dial = await jb.next(command('redirect'));
    assert.equal(dial.data[0].verb, 'dial');
    sent = jb.send('dial-confirm.json', call);
    await jb.next(ackOf(sent.msgid));
    sent = jb.send('verb-hook-screen-result.json', call, { digits: '1' });
    assert.deepEqual((await jb.next(ackOf(sent.msgid))).data, []);
    sent = jb.send('verb-hook-dial-done.json', call, { dial_call_status: 'completed', duration: 42 });
    assert.deepEqual((await jb.next(ackOf(sent.msgid))).data, [{ verb: 'hangup' }]);
    jb.send('call-status-completed.json', call);
    jb.close();

    call = sid();
    jb = new JambonzConn(server.url);
    await jb.opened;
    sent = jb.send('session-new.json', call, { to: ACME });
    await jb.next(ackOf(sent.msgid));
    jb.send('llm-tool-call-openai.json', call, {
      tool_call_id: 'call_bye', name: 'hangUp', args: { reason: 'done' } });
    await jb.next(command('llm:tool-output'));
    assert.deepEqual((await jb.next(command('redirect'))).data, [{ verb: 'hangup' }]);
    jb.send('call-status-completed.json', call);
    jb.close();

    // The model session ends on its own with an error: apology, then hangup.
    call = sid();
    jb = new JambonzConn(server.url);
    await jb.opened;
    sent = jb.send('session-new.json', call, { to: ACME });
    await jb.next(ackOf(sent.msgid));
    sent = jb.send('verb-hook-llm-done.json', call, { completion_reason: 'server error' });
    const apology = await jb.next(ackOf(sent.msgid));
    assert.deepEqual(apology.data.map((v) => v.verb), ['say', 'hangup']);
    jb.close();

    // Ultravox tenant: the create-call body, client tool results.
    call = sid();
    jb = new JambonzConn(server.url);
    await jb.opened;
    sent = jb.send('session-new.json', call, { to: VOX });
    ack = await jb.next(ackOf(sent.msgid));
    assert.equal(ack.data[0].vendor, 'ultravox');
    assert.equal(ack.data[0].auth.apiKey, ULTRAVOX_KEY);
    jb.send('llm-event-ultravox-transcript.json', call);
    jb.send('llm-tool-call-ultravox.json', call);
    await jb.next(command('llm:tool-output'));
    jb.send('call-status-completed.json', call);
    jb.close();

    // xAI tenant: jambonz has no vendor for it — say + hangup.
    call = sid();
    jb = new JambonzConn(server.url);
    await jb.opened;
    sent = jb.send('session-new.json', call, { to: GROK });
    ack = await jb.next(ackOf(sent.msgid));
    assert.deepEqual(ack.data.map((v) => v.verb), ['say', 'hangup']);
    jb.close();

    // The socket drops before jambonz reads the first ack: the reconnect's ack
    // carries the application (ws-requestor moves session:new onto it).
    call = sid();
    jb = new JambonzConn(server.url);
    await jb.opened;
    jb.send('session-new.json', call, { to: ACME });
    jb.ws.terminate();
    jb = new JambonzConn(server.url);
    await jb.opened;
    sent = jb.send('session-reconnect.json', call, { to: ACME });
    ack = await jb.next(ackOf(sent.msgid));
    assert.equal(ack.data[0].verb, 'llm');
    jb.send('call-status-completed.json', call);
    jb.close();
  } finally {
    await server.stop();
  }

  // No model key at all: the OpenAI tenant is answered with say + hangup.
  const keyless = await startServer({ keys: {} });
  try {
    const jb = new JambonzConn(keyless.url);
    await jb.opened;
    const sent = jb.send('session-new.json', sid(), { to: ACME });
    const ack = await jb.next(ackOf(sent.msgid));
    assert.deepEqual(ack.data.map((v) => v.verb), ['say', 'hangup']);
    jb.close();
  } finally {
    await keyless.stop();
  }

  // Coverage: each kind of verb switchboard emits went through the validator.
  const kinds = new Set(validated.flatMap(({ verbs }) => verbs.map((v) => v.verb === 'llm' ? `llm/${v.vendor}` : v.verb)));
  for (const kind of ['llm/openai', 'llm/ultravox', 'dial', 'gather', 'say', 'hangup']) {
    assert.ok(kinds.has(kind), `no ${kind} verb was validated (${[...kinds]})`);
  }
  assert.ok(validated.some(({ source }) => source === 'ack dial:confirm'), 'dial:confirm screening validated');
  assert.ok(validated.some(({ source }) => source === 'ack verb:hook /dial-done'), 'way-back llm verb validated');
  assert.ok(validated.some(({ source }) => source === 'ack session:reconnect'), 'reconnect ack validated');
});
