// Shared by the SDK tests: the client the driver's server answers on, and the `nova` CLI as an
// independent reference (tokenizer, chat template, in-process generation) for the server's answers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import OpenAI from 'openai';

export const baseURL = process.env.NOVA_BASE_URL;
export const novaBin = process.env.NOVA_BIN;
export const modelDir = process.env.NOVA_MODEL_DIR;
if (!baseURL || !novaBin || !modelDir)
  throw new Error('run these tests through run_sdk_tests.mjs (ctest -R serve_node_sdk): NOVA_BASE_URL, ' +
                  'NOVA_BIN and NOVA_MODEL_DIR are unset');

export const model = path.basename(modelDir);
// Plaintext keys when the driver started the server with --api-keys (NOVA_SDK_KEYS_FILE).
export const keys = process.env.NOVA_SDK_KEYS ? JSON.parse(process.env.NOVA_SDK_KEYS) : null;

// maxRetries 0: a 429 or 5xx must surface as the SDK's error, not be retried away.
export function client(apiKey = keys ? keys.user : 'sk-unused') {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
}

function nova(args, input) {
  return execFileSync(novaBin, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

// Token ids of `text` as the model's tokenizer.json encodes it (`nova tokenize`).
export function tokenize(text, { addSpecial = false } = {}) {
  const args = ['tokenize', '--tokenizer', modelDir];
  if (addSpecial) args.push('--add-special');
  return JSON.parse(nova(args, text));
}

// The prompt the chat template renders for `messages` (`nova template`), generation prompt added.
export function renderChat(messages) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-sdk-'));
  try {
    const file = path.join(dir, 'messages.json');
    writeFileSync(file, JSON.stringify(messages));
    return nova(['template', '--tokenizer-config', path.join(modelDir, 'tokenizer_config.json'), '--messages', file,
                 '--add-generation-prompt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// In-process generation (`nova generate`, no server): { text, ids } for a text or id prompt.
// The server must produce exactly this for the same prompt and sampling.
export function generate({ prompt, ids, maxTokens, temperature, seed, noSpecial = false }) {
  const args = ['generate', '--model', modelDir, '--max-tokens', String(maxTokens), '--temperature', String(temperature)];
  if (seed !== undefined) args.push('--seed', String(seed));
  if (ids) args.push('--ids', ids.join(','));
  else args.push('--prompt', prompt);
  if (noSpecial) args.push('--no-special');
  const text = nova(args).replace(/\n$/, '');
  const printed = nova([...args, '--print-ids']).trim();
  return { text, ids: printed ? printed.split(/\s+/).map(Number) : [] };
}

// Runs `fn`, which must throw; returns the error (assert.rejects does not hand it back).
export async function errorOf(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the request to fail');
}
