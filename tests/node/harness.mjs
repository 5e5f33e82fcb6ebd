// Helpers every Node test shares: a free loopback port, a pause, and waiting
// for a spawned switchboard to answer /health.
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
