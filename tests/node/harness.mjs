// Helpers every Node test shares: the switchboard binary, starting and stopping
// it, a free loopback port, a pause, and waiting for /health.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** SWITCHBOARD_BIN, else $CARGO_TARGET_DIR/debug/switchboard, else target/debug/switchboard. */
export const bin = process.env.SWITCHBOARD_BIN
  || join(resolve(root, process.env.CARGO_TARGET_DIR || 'target'), 'debug/switchboard');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `switchboard --config <config> serve` in `cwd` with `env`; killed if the test
 *  process exits first. */
export function spawnSwitchboard(config, { cwd, env }) {
  const child = spawn(bin, ['--config', config, 'serve'], { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', (err) => console.error(`switchboard (${bin}): ${err.message}`));
  const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.on('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves at once if the child has exited. */
export function stopSwitchboard(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(kill); res(); });
    child.kill('SIGTERM');
  });
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => ok(port)); });
  });
}

/** Resolves once switchboard (`child`) answers GET /health with 200 on `port`
 *  (15 s at most); rejects if it exits first. */
export async function waitHealthy(port, child) {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`switchboard exited (${child.exitCode ?? child.signalCode})`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status === 200) return;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  throw new Error('switchboard did not become healthy');
}

/** Writes `dir`/config.toml for a test node on 127.0.0.1:`port` (one worker,
 *  no drain, SQLite in `dir`) followed by `sections` (more TOML); returns its path. */
export function writeConfig(dir, port, sections) {
  const path = join(dir, 'config.toml');
  writeFileSync(path, `
[server]
bind = "127.0.0.1:${port}"
workers = 1
drain_timeout_secs = 0
[database]
url = "${join(dir, 'switchboard.db')}"
${sections}`);
  return path;
}
