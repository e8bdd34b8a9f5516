// The ctest entry `serve_node_sdk`: starts `nova serve --model DIR --port 0`, waits for /health,
// runs `node --test` on every *.test.mjs beside this file with the server's base URL in the
// environment, then stops the server with SIGTERM (a graceful drain) and fails if the tests
// failed or the server did not exit cleanly (under ASan a leak or error report makes it exit
// non-zero, so the sanitizer build checks the server too).
//
//   node run_sdk_tests.mjs --nova build/bin/nova --model models/demo
//
// Port 0 lets the kernel pick a free port (no race with other tests); the server prints it.
// With NOVA_SDK_KEYS_FILE=PATH the driver also creates an API-keys file there (`nova keys create`;
// an existing file at PATH is replaced), starts the server with `--api-keys PATH` and hands the
// keys to the tests, which then run their auth and rate-limit cases (skipped otherwise).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const startTimeoutMs = 60_000;  // the ASan server loads the model several times slower
const stopTimeoutMs = 20_000;

function die(message) {
  console.error(`serve_node_sdk: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) die(`usage: run_sdk_tests.mjs --nova BIN --model DIR`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  if (!out.nova || !out.model) die('usage: run_sdk_tests.mjs --nova BIN --model DIR');
  return out;
}

// The SDK must be the version package.json pins (bootstrap.sh's `npm ci` installs it).
function checkSdk() {
  const pinned = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8')).dependencies.openai;
  const installed = path.join(here, 'node_modules', 'openai', 'package.json');
  if (!existsSync(installed))
    die(`the OpenAI Node SDK (npm openai@${pinned}) is not installed in ${here}/node_modules; ` +
        'run scripts/bootstrap.sh (it runs `npm ci` there)');
  const version = JSON.parse(readFileSync(installed, 'utf8')).version;
  if (version !== pinned)
    die(`node_modules holds openai@${version} but package.json pins ${pinned}; run scripts/bootstrap.sh`);
}

// Three keys made by `nova keys create` (the store keeps only their SHA-256; the key is printed
// once): an admin, a user, and a user limited to 2 requests a minute.
function createKeys(nova, store) {
  const create = (role, ...extra) =>
    execFileSync(nova, ['keys', 'create', '--store', store, '--role', role, '--name', `sdk-${role}`, ...extra],
                 { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  return { admin: create('admin'), user: create('user'), limited: create('user', '--rpm', '2') };
}

async function waitForHealth(baseUrl, server) {
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) return false;
    try {
      const res = await fetch(`${baseUrl}/health`);
      if (res.status === 200) return true;
    } catch {
      // not accepting yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function waitForExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  checkSdk();
  if (!existsSync(args.nova)) die(`no nova binary at ${args.nova} (build the 'nova' target)`);

  const keysFile = process.env.NOVA_SDK_KEYS_FILE;
  if (keysFile) rmSync(keysFile, { force: true });  // a fresh store: only this run's keys
  const keys = keysFile ? createKeys(args.nova, keysFile) : null;
  const serverArgs = ['serve', '--model', args.model, '--host', '127.0.0.1', '--port', '0'];
  if (keysFile) serverArgs.push('--api-keys', keysFile);

  const server = spawn(args.nova, serverArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  let serverErr = '';
  server.stdout.on('data', (d) => (serverOut += d));
  server.stderr.on('data', (d) => (serverErr += d));
  const killServer = () => server.exitCode === null && server.kill('SIGKILL');
  process.on('exit', killServer);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
  const showServer = () => console.error(`--- nova serve stdout ---\n${serverOut}--- nova serve stderr ---\n${serverErr}`);

  // "nova serve: model 'demo' at http://127.0.0.1:PORT/v1 (Ctrl-C to stop)"
  const deadline = Date.now() + startTimeoutMs;
  let baseUrl = null;
  while (!baseUrl && Date.now() < deadline && server.exitCode === null) {
    const m = serverOut.match(/at (http:\/\/[^\s]+\/v1)/);
    if (m) baseUrl = m[1];
    else await new Promise((r) => setTimeout(r, 50));
  }
  if (!baseUrl) {
    showServer();
    die(`nova serve did not report its address within ${startTimeoutMs / 1000} s (exit code ${server.exitCode})`);
  }
  const origin = baseUrl.replace(/\/v1$/, '');
  if (!(await waitForHealth(origin, server))) {
    showServer();
    die(`${origin}/health did not answer 200`);
  }

  const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => path.join(here, f));
  const env = {
    ...process.env,
    NOVA_BASE_URL: baseUrl,
    NOVA_BIN: path.resolve(args.nova),
    NOVA_MODEL_DIR: path.resolve(args.model),
    NOVA_SDK_KEYS: keys ? JSON.stringify(keys) : '',
  };
  const tests = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
  const testCode = await new Promise((resolve) => tests.on('exit', (code, signal) => resolve(signal ? 1 : code)));

  server.kill('SIGTERM');
  const exited = await waitForExit(server, stopTimeoutMs);
  if (!exited) {
    showServer();
    die(`nova serve did not stop within ${stopTimeoutMs / 1000} s of SIGTERM`);
  }
  if (server.exitCode !== 0) {
    showServer();
    die(`nova serve exited with ${server.exitCode ?? server.signalCode} after SIGTERM`);
  }
  if (testCode !== 0) {
    showServer();
    die('SDK tests failed');
  }
  console.log(`serve_node_sdk: ${files.length} test files passed against ${baseUrl}`);
}

main().catch((e) => die(e.stack || String(e)));
