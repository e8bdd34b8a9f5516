// API keys and rate limits as SDK users see them: AuthenticationError (401),
// PermissionDeniedError (403), RateLimitError (429 with Retry-After).
//
// Needs a server started with --api-keys: run the ctest entry with NOVA_SDK_KEYS_FILE=PATH (the
// driver creates the keys file there: an admin key, a user key and a user key limited to 2
// requests a minute). NOVA_SDK_ADMIN_ROUTE overrides the admin-only GET route (under the /v1 base URL:
// /admin/keys, i.e. GET /v1/admin/keys).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import OpenAI from 'openai';

import { baseURL, client, errorOf, keys, model } from './support.mjs';

const skip = keys ? false : 'set NOVA_SDK_KEYS_FILE=PATH to start the server with --api-keys and run these';
const adminRoute = process.env.NOVA_SDK_ADMIN_ROUTE || '/admin/keys';
const messages = [{ role: 'user', content: 'hi' }];
const ask = (openai) => openai.chat.completions.create({ model, messages, max_tokens: 1, temperature: 0 });

describe('auth and rate limits', { skip }, () => {
  test('a user key may infer', async () => {
    const r = await ask(client(keys.user));
    assert.equal(r.choices.length, 1);
  });

  test('no key -> AuthenticationError', async () => {
    // The SDK always sends a key; a null header value removes it.
    const anonymous = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, defaultHeaders: { authorization: null } });
    const e = await errorOf(() => ask(anonymous));
    assert.ok(e instanceof OpenAI.AuthenticationError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 401);
  });

  test('a wrong key -> AuthenticationError, and the key is not echoed', async () => {
    const wrong = keys.user.slice(0, -4) + 'AAAA';
    const e = await errorOf(() => ask(client(wrong)));
    assert.ok(e instanceof OpenAI.AuthenticationError, `${e.constructor.name}: ${e.message}`);
    assert.ok(!e.message.includes(wrong));
  });

  test('a user key on an admin route -> PermissionDeniedError; an admin key passes', async () => {
    const e = await errorOf(() => client(keys.user).get(adminRoute));
    assert.ok(e instanceof OpenAI.PermissionDeniedError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 403);
    await client(keys.admin).get(adminRoute);
  });

  test('over its requests/minute limit -> RateLimitError with Retry-After', async () => {
    const limited = client(keys.limited);
    await ask(limited);
    await ask(limited);
    const e = await errorOf(() => ask(limited));
    assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 429);
    assert.ok(Number(e.headers.get('retry-after')) > 0, 'no Retry-After header');
    await ask(client(keys.user));  // other keys are not affected
  });
});
