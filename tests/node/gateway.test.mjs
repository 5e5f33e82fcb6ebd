// Interop test of the /supervisor Node client protocol with the plain `ws`
// package, against the real `switchboard` binary (temp config and SQLite file).
// A local OpenAI-compatible chat stand-in writes the replies; one reply is slow so
// that it is produced while the client is away.
//
// Env: SWITCHBOARD_BIN (default $CARGO_TARGET_DIR/debug/switchboard, else
// ../../target/debug/switchboard).
//
// Everything the test starts (the chat stand-in, the server, the temp folder) is
// released in `finally`, after a failure too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import http from 'node:http';
import WebSocket from 'ws';
import { bin, freePort, root, sleep, spawnSwitchboard, stopSwitchboard, waitHealthy, writeConfig } from './harness.mjs';


// Chat-completions stand-in: answers with text naming the customer's message;
// messages containing "later" are answered after 1.5 s.
function startChatModel() {
  return new Promise((res) => {
    const server = http.createServer((req, reply) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        const request = JSON.parse(body);
        const user = request.messages.filter((m) => m.role === 'user').at(-1).content;
        if (user.includes('later')) await sleep(1500);
        reply.writeHead(200, { 'content-type': 'application/json' });
        reply.end(JSON.stringify({
          id: 'chatcmpl-node', object: 'chat.completion',
          choices: [{ index: 0, finish_reason: 'stop',
            message: { role: 'assistant', content: `AI reply to: ${user.split('\n').at(-1)}` } }],
        }));
      });
    });
    server.listen(0, '127.0.0.1', () => res(server));
  });
}

function startServer(configPath, cwd) {
  return spawnSwitchboard(configPath, {
    cwd,
    env: { ...process.env, RUST_LOG: 'warn', SWITCHBOARD_SERVER__ADMIN_TOKEN: 'node-admin',
      SWITCHBOARD_TEXT_MODEL__API_KEY: 'sk-node-test' },
  });
}


// Closes an http server and every connection still open to it.
function closeServer(server) {
  if (!server) return Promise.resolve();
  return new Promise((res) => {
    server.close(() => res());
    server.closeAllConnections();
  });
}

// A protocol client: queues every JSON message; `next(pred)` waits for one.
class NodeClient {
  constructor(url, token) {
    this.messages = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    this.closed = new Promise((res) => this.ws.on('close', (code) => res(code)));
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()));
      this.waiters.forEach((w) => w());
    });
    this.opened = new Promise((res, rej) => {
      this.ws.once('open', res);
      this.ws.once('error', rej);
    });
  }
  send(msg) { this.ws.send(JSON.stringify(msg)); }
  async next(pred, ms = 10000) {
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
}

// Reconnects until the server accepts the client again.
async function reconnect(url, token) {
  for (let i = 0; i < 100; i++) {
    const c = new NodeClient(url, token);
    try {
      await c.opened;
      return c;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('could not reconnect');
}

test('a Node client authenticates, gets acks and replies, and survives a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-node-'));
  let chat = null;
  let server = null;
  let client = null;
  try {
    chat = await startChatModel();
    const port = await freePort();
    const config = writeConfig(dir, port, `
[simulator]
script = "${join(root, 'assets/sim/script.toml')}"
clips_dir = "${join(root, 'assets/sim')}"
[text_model]
base_url = "http://127.0.0.1:${chat.address().port}/v1"
[messaging]
heartbeat_secs = 2
client_timeout_secs = 6
[[tenants]]
id = "acme-dental"
name = "Acme Dental"
phone_numbers = ["+15550100000"]
company_brief = "A family dental practice."
`);
    const token = execFileSync(bin, ['--config', config, 'client', 'add', '--tenant', 'acme-dental', '--name', 'node-test'],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    assert.match(token, /^sbn_[0-9a-f]{64}$/);
    const url = `ws://127.0.0.1:${port}/supervisor`;
    server = startServer(config, dir);
    await waitHealthy(port, server);
    client = await reconnect(url, token);
    const hello = await client.next((m) => m.type === 'authenticated');
    assert.deepEqual(hello.tenants, ['acme-dental']);

    client.send({ type: 'sms_received', id: 's1', from: '+15550100001', to: '+15550100000',
      message: 'Do you have a cleaning slot on Tuesday?', user: 'u-1' });
    const ack = await client.next((m) => m.type === 'message_acknowledged' && m.id === 's1');
    assert.ok(ack.message_id && !Number.isNaN(Date.parse(ack.received_at)));
    const sms = await client.next((m) => m.type === 'send_sms_response' && m.in_reply_to === 's1');
    assert.equal(sms.to, '+15550100001');
    assert.equal(sms.from, '+15550100000');
    assert.equal(sms.body, 'AI reply to: Do you have a cleaning slot on Tuesday?');
    client.send({ type: 'delivered', id: sms.id });

    client.send({ type: 'email_received', id: 'e1', from: 'Dana <dana@example.com>', to: 'desk@acme.example',
      subject: 'Invoice', body: 'Could you resend my invoice?' });
    await client.next((m) => m.type === 'message_acknowledged' && m.id === 'e1');
    const email = await client.next((m) => m.type === 'send_email_response' && m.in_reply_to === 'e1');
    assert.equal(email.to, 'dana@example.com');
    assert.equal(email.subject, 'Re: Invoice');
    assert.equal(email.body, 'AI reply to: Could you resend my invoice?');
    client.send({ type: 'delivered', id: email.id });

    client.send({ type: 'ping', id: 'p1' });
    assert.deepEqual(await client.next((m) => m.type === 'pong'), { type: 'pong', id: 'p1' });

    // A message whose reply comes later; the client goes away before it does.
    client.send({ type: 'sms_received', id: 's2', from: '+15550100001', to: '+15550100000',
      message: 'Please text me back later' });
    await client.next((m) => m.type === 'message_acknowledged' && m.id === 's2');
    client.ws.close();
    await client.closed;
    await sleep(2500); // the reply is written to the outbox meanwhile

    // The server restarts; the client reconnects and gets what was queued, in order.
    await stopSwitchboard(server);
    server = startServer(config, dir);
    client = await reconnect(url, token);
    await client.next((m) => m.type === 'authenticated');
    const queued = await client.next((m) => m.type === 'send_sms_response');
    assert.equal(queued.in_reply_to, 's2');
    assert.equal(queued.body, 'AI reply to: Please text me back later');
    client.send({ type: 'delivered', id: queued.id });
    await sleep(300);
    client.ws.close();
    await client.closed;

    // Delivered responses are not sent again.
    client = await reconnect(url, token);
    await client.next((m) => m.type === 'authenticated');
    client.send({ type: 'ping', id: 'p2' });
    await client.next((m) => m.type === 'pong');
    assert.deepEqual(client.messages.filter((m) => m.type.startsWith('send_')), []);
    client.ws.close();
  } finally {
    if (client) client.ws.terminate();
    await stopSwitchboard(server);
    await closeServer(chat);
    rmSync(dir, { recursive: true, force: true });
  }
});
