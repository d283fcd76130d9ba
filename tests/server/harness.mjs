// Starts a real `pocket serve` on a free loopback port for a test and stops it afterwards.
//
//   import { startServer, sharedPath } from './harness.mjs';
//   const server = await startServer(['-m', sharedPath('models/stories260K.gguf')]);
//   ... fetch(server.url + '/health') ...
//   await server.stop();
//
// POCKET_BINARY: the pocket executable (ctest sets it); POCKET_SHARED_DIR: the shared data
// (default ../shared next to the source tree). The server's stderr (access log) is kept and
// printed when a test fails, so a failure shows what the server saw.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '..', '..');

export function sharedPath(relative) {
  const dir = process.env.POCKET_SHARED_DIR || path.resolve(sourceDir, '..', 'shared');
  return path.join(dir, relative);
}

export function pocketBinary() {
  return process.env.POCKET_BINARY || path.join(sourceDir, 'build', 'pocket');
}

export async function startServer(args, { timeoutMs = 60000, env = {} } = {}) {
  const child = spawn(pocketBinary(), ['serve', '--port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    child.stderr.on('data', (chunk) => {
      log += chunk.toString();
      const m = log.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${log}`));
    });
  });
  // Ready once the first model has loaded.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url + '/health');
      if (res.status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`server never became healthy:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  let exited = false;
  child.on('exit', () => { exited = true; });
  return {
    url,
    process: child,
    log: () => log,
    alive: () => !exited,
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(timer);
    },
  };
}

// Runs named async checks in order, printing "ok - name" or the failure, and exits non-zero when
// any failed. `server` (optional) gets its log printed on failure and is stopped at the end.
export async function runChecks(checks, server) {
  let failed = 0;
  const watchdog = setTimeout(() => {
    console.error('FAIL: test took longer than 240 s');
    if (server) console.error(server.log());
    process.exit(1);
  }, 240000);
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${e && e.stack ? e.stack : e}`);
    }
  }
  clearTimeout(watchdog);
  if (failed && server) console.error('--- server log ---\n' + server.log());
  if (server) await server.stop();
  console.log(failed ? `${failed} of ${checks.length} failed` : `all ${checks.length} passed`);
  process.exit(failed ? 1 : 0);
}

export function assert(condition, message) {
  if (!condition) throw new Error(message || 'assertion failed');
}

export function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message || 'not equal'}: got ${a}, want ${e}`);
}
