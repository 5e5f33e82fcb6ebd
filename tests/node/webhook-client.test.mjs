// The webhook form of /supervisor, as existing Node webhook servers speak it: a
// client written to that wire exactly (facts in docs/messaging.md, "Node client
// protocol", from xswarm-boss packages/server/src/lib/supervisor-client.js):
//   - on open, no Authorization header: {"type":"auth","token":…}; waits for
//     auth_result (success:false rejects with its message);
//   - sms_received / email_received / ping without any id;
//   - a request resolves on the FIRST of: message_acknowledged of its
//     message_type, send_*_response with the request's user, or error (rejects);
//     it gives up after 10 s;
//   - it never sends `delivered`.
// Run against the real debug binary with a local chat-completions stand-in whose
// "slow" replies take longer than the configured messaging.sync_reply_ms.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import WebSocket from 'ws';
import { bin, freePort, root, sleep, spawnSwitchboard, stopSwitchboard, waitHealthy, writeConfig } from './harness.mjs';


const SYNC_REPLY_MS = 3000; // messaging.sync_reply_ms of this test's server
const SLOW_REPLY_MS = 5000; // the stand-in's delay for texts containing "slow"
const REQUEST_TIMEOUT_MS = 10000; // the webhook clients' own limit
const TENANT_NUMBER = '+15550100000';
const CUSTOMER = '+15550100001';
const ADMIN = 'node-webhook-admin';

// ---------------------------------------------------------------------------
// The client, to the wire of the existing webhook servers.
class WebhookClient {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.handlers = new Set();
    this.events = []; // every event received, in order
    this.sent = []; // every message sent, in order
  }

  // Opens the socket and authenticates with an auth message; resolves on
  // auth_result success, rejects with its message otherwise.
  connect() {
    return new Promise((resolveConnect, rejectConnect) => {
      this.ws = new WebSocket(this.url);
      this.closed = new Promise((res) => this.ws.once('close', (code) => res(code)));
      this.ws.on('message', (data) => this.dispatch(JSON.parse(data.toString())));
      this.ws.on('error', rejectConnect); // later errors end in 'close' as well
      this.ws.once('close', () => rejectConnect(new Error('closed before auth_result')));
      this.ws.once('open', () => {
        const onAuth = (event) => {
          if (event.type !== 'auth_result') return false;
          this.handlers.delete(onAuth);
          if (event.success) resolveConnect(event);
          else rejectConnect(new Error(event.message || 'Authentication failed'));
          return true;
        };
        this.handlers.add(onAuth);
        this.send({ type: 'auth', token: this.token });
      });
    });
  }

  send(message) {
    this.sent.push(message);
    this.ws.send(JSON.stringify(message));
  }

  dispatch(event) {
    this.events.push(event);
    for (const handler of this.handlers) {
      if (handler(event) === true) return;
    }
  }

  // Sends `message` and resolves on the first event `accept` takes (or rejects
  // on `error`, or after 10 s).
  request(message, accept, what) {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.handlers.delete(handler);
        rej(new Error(`${what} timeout`));
      }, REQUEST_TIMEOUT_MS);
      const handler = (event) => {
        if (accept(event)) {
          clearTimeout(timer);
          this.handlers.delete(handler);
          res(event);
          return true;
        }
        if (event.type === 'error') {
          clearTimeout(timer);
          this.handlers.delete(handler);
          rej(new Error(event.message));
          return true;
        }
        return false;
      };
      this.handlers.add(handler);
      this.send(message);
    });
  }

  sendSmsEvent({ from, to, message, user }) {
    return this.request(
      { type: 'sms_received', from, to, message, user },
      (e) => (e.type === 'message_acknowledged' && e.message_type === 'sms')
        || (e.type === 'send_sms_response' && e.user === user),
      'SMS event',
    );
  }

  sendEmailEvent({ from, to, subject, body, user }) {
    return this.request(
      { type: 'email_received', from, to, subject, body, user },
      (e) => (e.type === 'message_acknowledged' && e.message_type === 'email')
        || (e.type === 'send_email_response' && e.user === user),
      'Email event',
    );
  }

  ping() {
    return this.request({ type: 'ping' }, (e) => e.type === 'pong', 'ping');
  }

  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    return this.closed;
  }
}

// ---------------------------------------------------------------------------
// The server under test and its chat-completions stand-in.

// Answers `Agent: <last line of the customer's text>`, after SLOW_REPLY_MS when
// the text contains "slow"; counts the requests per text.
function startChatModel() {
  const asked = [];
  return new Promise((res, rej) => {
    const server = http.createServer((req, reply) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        const request = JSON.parse(body);
        const user = request.messages.filter((m) => m.role === 'user').at(-1).content;
        asked.push(user);
        if (user.includes('slow')) await sleep(SLOW_REPLY_MS);
        reply.writeHead(200, { 'content-type': 'application/json' });
        reply.end(JSON.stringify({
          id: 'chatcmpl-webhook', object: 'chat.completion',
          choices: [{ index: 0, finish_reason: 'stop',
            message: { role: 'assistant', content: `Agent: ${user.split('\n').at(-1)}` } }],
        }));
      });
    });
    server.asked = asked;
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res(server));
  });
}

const ctx = { dir: null, chat: null, server: null, port: 0, token: '', clients: [] };

before(async () => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'switchboard-webhook-'));
  ctx.chat = await startChatModel();
  ctx.port = await freePort();
  const config = writeConfig(ctx.dir, ctx.port, `
[simulator]
script = "${join(root, 'assets/sim/script.toml')}"
clips_dir = "${join(root, 'assets/sim')}"
[text_model]
base_url = "http://127.0.0.1:${ctx.chat.address().port}/v1"
[messaging]
sync_reply_ms = ${SYNC_REPLY_MS}
[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["${TENANT_NUMBER}"]
company_brief = "A family dental practice."
`);
  // The deployment's shared token lives in SUPERVISOR_TOKEN, as the webhook
  // servers read it; switchboard stores only its hash. Without it: no token.
  ctx.token = randomBytes(24).toString('hex');
  const env = { ...process.env };
  delete env.SUPERVISOR_TOKEN;
  assert.throws(() => execFileSync(bin,
    ['--config', config, 'client', 'add', '--tenant', 'acme-dental', '--token-from-env', 'SUPERVISOR_TOKEN'],
    { cwd: ctx.dir, env, stdio: ['ignore', 'pipe', 'pipe'] }), /SUPERVISOR_TOKEN is not set/);
  execFileSync(bin,
    ['--config', config, 'client', 'add', '--tenant', 'acme-dental', '--name', 'webhooks',
      '--token-from-env', 'SUPERVISOR_TOKEN'],
    { cwd: ctx.dir, env: { ...env, SUPERVISOR_TOKEN: ctx.token }, stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.server = spawnSwitchboard(config, {
    cwd: ctx.dir,
    env: { ...env, RUST_LOG: 'warn', SWITCHBOARD_SERVER__ADMIN_TOKEN: ADMIN,
      SWITCHBOARD_TEXT_MODEL__API_KEY: 'sk-webhook-test' },
  });
  await waitHealthy(ctx.port, ctx.server);
});

after(async () => {
  for (const c of ctx.clients) await c.close().catch(() => {});
  await stopSwitchboard(ctx.server);
  if (ctx.chat) ctx.chat.close();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

async function connected(token = ctx.token) {
  const client = new WebhookClient(`ws://127.0.0.1:${ctx.port}/supervisor`, token);
  ctx.clients.push(client);
  await client.connect();
  return client;
}

async function storedMessages() {
  const res = await fetch(`http://127.0.0.1:${ctx.port}/api/messages`,
    { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

function neverSentDelivered(client) {
  assert.deepEqual(client.sent.filter((m) => m.type === 'delivered'), []);
  assert.ok(client.sent.every((m) => !('id' in m)), JSON.stringify(client.sent));
}

// ---------------------------------------------------------------------------
test('answered quickly: the agent\'s text comes back as send_sms_response and send_email_response', async () => {
  const client = await connected();
  const sms = await client.sendSmsEvent({ from: CUSTOMER, to: TENANT_NUMBER,
    message: 'Do you have a cleaning slot on Tuesday?', user: 'alice' });
  assert.equal(sms.type, 'send_sms_response');
  assert.equal(sms.message, 'Agent: Do you have a cleaning slot on Tuesday?');
  assert.equal(sms.to, CUSTOMER);
  assert.equal(sms.user, 'alice');

  const email = await client.sendEmailEvent({ from: 'dana@example.com', to: 'desk@acme.example',
    subject: 'Invoice', body: 'Could you resend my invoice?', user: 'dana' });
  assert.equal(email.type, 'send_email_response');
  assert.equal(email.to, 'dana@example.com');
  assert.equal(email.subject, 'Re: Invoice');
  assert.equal(email.body, 'Agent: Could you resend my invoice?');
  assert.equal(email.user, 'dana');

  // The webhook server resends the same SMS (say, after a reconnect): the same
  // answer, from the stored reply — no second model call, no second row.
  const again = await client.sendSmsEvent({ from: CUSTOMER, to: TENANT_NUMBER,
    message: 'Do you have a cleaning slot on Tuesday?', user: 'alice' });
  assert.equal(again.type, 'send_sms_response');
  assert.equal(again.message, sms.message);
  assert.equal(ctx.chat.asked.filter((t) => t.includes('cleaning slot on Tuesday')).length, 1);
  const rows = (await storedMessages()).filter((m) => m.body === 'Do you have a cleaning slot on Tuesday?');
  assert.equal(rows.length, 1, JSON.stringify(rows));
  neverSentDelivered(client);
  await client.close();
});

test('slower than sync_reply_ms: message_acknowledged with message_type, and the late reply is not sent', async () => {
  const client = await connected();
  const started = Date.now();
  const ack = await client.sendSmsEvent({ from: CUSTOMER, to: TENANT_NUMBER,
    message: 'slow: please call me back', user: 'bob' });
  const took = Date.now() - started;
  assert.equal(ack.type, 'message_acknowledged');
  assert.equal(ack.message_type, 'sms');
  assert.equal(ack.user, 'bob');
  assert.ok(!Number.isNaN(Date.parse(ack.timestamp)), ack.timestamp);
  assert.ok(took >= SYNC_REPLY_MS - 100 && took < SLOW_REPLY_MS, `answered after ${took} ms`);

  // The reply is written meanwhile; it reaches this client as nothing at all.
  const seen = client.events.length;
  await sleep(SLOW_REPLY_MS - took + 1000);
  const rows = await storedMessages();
  const inbound = rows.filter((m) => m.body === 'slow: please call me back');
  assert.equal(inbound.length, 1);
  assert.ok(rows.some((m) => m.direction === 'outbound' && m.in_reply_to === inbound[0].id),
    'the late reply is stored');
  assert.deepEqual(client.events.slice(seen), []);
  neverSentDelivered(client);
  await client.close();
});

test('a wrong token gets auth_result success:false and the socket closes with 1008', async () => {
  const client = new WebhookClient(`ws://127.0.0.1:${ctx.port}/supervisor`, 'not-the-supervisor-token');
  ctx.clients.push(client);
  await assert.rejects(client.connect(), /unknown token/);
  assert.deepEqual(client.events, [{ type: 'auth_result', success: false, message: 'unknown token' }]);
  assert.equal(await client.closed, 1008);
});

test('ping gets a bare pong', async () => {
  const client = await connected();
  assert.deepEqual(await client.ping(), { type: 'pong' });
  neverSentDelivered(client);
  await client.close();
});
