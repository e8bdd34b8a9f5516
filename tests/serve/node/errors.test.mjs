// Errors reach SDK users as the SDK's own error classes, with OpenAI's error body fields
// (message, type, param) filled in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import OpenAI from 'openai';

import { client, errorOf, model } from './support.mjs';

const openai = client();
const messages = [{ role: 'user', content: 'hi' }];

describe('errors', () => {
  const badRequests = [
    ['temperature out of range', () => openai.chat.completions.create({ model, messages, temperature: 5 }), 'temperature'],
    ['n = 0', () => openai.chat.completions.create({ model, messages, n: 0 }), 'n'],
    ['top_logprobs without logprobs',
     () => openai.chat.completions.create({ model, messages, top_logprobs: 2 }), 'top_logprobs'],
    ['empty messages', () => openai.chat.completions.create({ model, messages: [] }), 'messages'],
    ['max_tokens beyond the context', () => openai.chat.completions.create({ model, messages, max_tokens: 1_000_000 }),
     'max_tokens'],
    ['stop with five sequences',
     () => openai.completions.create({ model, prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop'],
    ['token id outside the vocabulary', () => openai.completions.create({ model, prompt: [1, 2, 1 << 30] }), 'prompt'],
    ['stream_options without stream',
     () => openai.completions.create({ model, prompt: 'x', stream_options: { include_usage: true } }), 'stream_options'],
  ];
  for (const [name, call, param] of badRequests) {
    test(`BadRequestError: ${name}`, async () => {
      const e = await errorOf(call);
      assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, param);
      assert.ok(e.error.message.length > 0);
    });
  }

  test('BadRequestError: a body that is not JSON', async () => {
    const e = await errorOf(() => openai.post('/chat/completions', { body: '{"model": "demo", "messages": [',
                                                                       headers: { 'content-type': 'application/json' } }));
    assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
  });

  test('NotFoundError: an unknown route', async () => {
    const e = await errorOf(() => openai.post('/no/such/route', { body: {} }));
    assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 404);
    assert.equal(e.type, 'invalid_request_error');
  });

  test('NotFoundError: an unknown model', async () => {
    const e = await errorOf(() => openai.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 1 }));
    assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    const r = await errorOf(() => openai.models.retrieve('no-such-model'));
    assert.ok(r instanceof OpenAI.NotFoundError, `${r.constructor.name}: ${r.message}`);
  });
});
