// Helpers the Chromium tests share: the switchboard binary started with its
// log kept (to print on failure and to search), headless Chromium, polling a
// predicate in a page, and releasing it all. Ports, health and config files
// come from tests/node/harness.mjs (Node built-ins only, no packages).

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { bin, root, sleep, stopSwitchboard } from "../node/harness.mjs";

export { bin, root, sleep };
export { freePort, waitHealthy, writeConfig } from "../node/harness.mjs";

/** test-artifacts/ (screenshots, console logs), created. */
export const artifacts = join(root, "test-artifacts");
mkdirSync(artifacts, { recursive: true });

/** `switchboard <args…>` in the repository root with `env`; its stdout and
 *  stderr are kept in `server.log` (an array of chunks; `logText()` joins them). */
export function startSwitchboard(args, env) {
  const server = spawn(bin, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  server.log = [];
  server.logText = () => server.log.join("");
  server.on("error", (e) => server.log.push(`switchboard (${bin}): ${e.message}\n`));
  server.stdout.on("data", (d) => server.log.push(d.toString()));
  server.stderr.on("data", (d) => server.log.push(d.toString()));
  return server;
}

/** Headless Chromium (CHROMIUM, default /usr/bin/chromium) with `args` added. */
export function launchChromium(args = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
      ...args,
    ],
  });
}

/** Resolves once `fn(arg)`, evaluated in `page`, is truthy; throws after
 *  `timeout` ms. Polled from here: the dashboard's Content-Security-Policy
 *  forbids the in-page eval Playwright's waitForFunction polls with
 *  (evaluate itself is not subject to it). */
export async function until(page, fn, arg, { timeout }) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${fn}`);
    await sleep(100);
  }
}

/** Runs `body()`; on failure prints `name` FAILED, the error and the tail of
 *  the server's log. Then closes Chromium (`browser()`, when launched) and
 *  stops the server (SIGTERM, SIGKILL after 5 s), runs `cleanup()`, and
 *  exits 0 or 1. */
export async function runTest(name, server, browser, body, cleanup = () => {}) {
  let failed = false;
  try {
    await body();
    console.log(`${name}: ok (screenshots in test-artifacts/)`);
  } catch (e) {
    failed = true;
    console.error(`${name} FAILED:`, e);
    console.error("--- server log (tail) ---\n" + server.logText().split("\n").slice(-40).join("\n"));
  } finally {
    const open = browser();
    if (open) await open.close().catch((e) => console.error("closing Chromium:", e));
    await stopSwitchboard(server);
    cleanup();
  }
  process.exit(failed ? 1 : 0);
}

/** A simulator script (TOML, see assets/sim/script.toml): `greeting`, then one
 *  caller turn per entry of `turns` — `{ words, call: { name, arguments }, reply }`,
 *  `reply` a `{ clip, text }` of assets/sim — then the fallback. */
export function simScript(greeting, turns) {
  const inline = (o) => "{ " + Object.entries(o).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ") + " }";
  const turn = (t) => [
    "[[turns]]",
    `user_transcript = ${JSON.stringify(t.words)}`,
    `function_call = { name = ${JSON.stringify(t.call.name)}, arguments = ${inline(t.call.arguments)} }`,
    "[turns.reply]",
    `clip = ${JSON.stringify(t.reply.clip)}`,
    `text = ${JSON.stringify(t.reply.text)}`,
  ].join("\n");
  return [
    `[greeting]\nclip = "greeting.wav"\ntext = ${JSON.stringify(greeting)}`,
    ...turns.map(turn),
    `[fallback]\nclip = "fallback.wav"\ntext = "Sorry, could you say that again?"`,
  ].join("\n\n") + "\n";
}
