// /v1/completions through the official SDK, checked against `nova tokenize` (prompt token counts)
// and `nova generate` (the same generation in-process, no server).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { client, generate, model, tokenize } from './support.mjs';

const openai = client();
const prompt = 'The quick brown fox';

async function streamCompletion(params) {
  const stream = await openai.completions.create({ ...params, stream: true });
  const chunks = [];
  const text = [], finish = [], tokens = [], tokenLogprobs = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      text[c.index] = (text[c.index] ?? '') + c.text;
      if (c.finish_reason) finish[c.index] = c.finish_reason;
      if (c.logprobs) {
        tokens[c.index] = [...(tokens[c.index] ?? []), ...c.logprobs.tokens];
        tokenLogprobs[c.index] = [...(tokenLogprobs[c.index] ?? []), ...c.logprobs.token_logprobs];
      }
    }
  }
  return { chunks, text, finish, tokens, tokenLogprobs };
}

describe('completions', () => {
  test('greedy text equals in-process generation, streamed or not, with exact usage', async () => {
    const params = { model, prompt, max_tokens: 12, temperature: 0 };
    const r = await openai.completions.create(params);
    assert.equal(r.object, 'text_completion');
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.model, model);
    const reference = generate({ prompt, maxTokens: 12, temperature: 0 });
    assert.equal(r.choices[0].text, reference.text);
    // A string prompt is encoded with the tokenizer's special tokens, as `nova tokenize --add-special`.
    const promptIds = tokenize(prompt, { addSpecial: true });
    assert.deepEqual(r.usage, {
      prompt_tokens: promptIds.length,
      completion_tokens: reference.ids.length,
      total_tokens: promptIds.length + reference.ids.length,
    });
    assert.equal(r.choices[0].finish_reason, reference.ids.length === 12 ? 'length' : 'stop');

    const streamed = await streamCompletion({ ...params, stream_options: { include_usage: true } });
    assert.deepEqual(streamed.text, [r.choices[0].text]);
    assert.deepEqual(streamed.finish, [r.choices[0].finish_reason]);
    for (const c of streamed.chunks) {
      assert.equal(c.object, 'text_completion');
      assert.equal(c.id, streamed.chunks[0].id);
    }
    assert.deepEqual(streamed.chunks.at(-1).choices, []);
    assert.deepEqual(streamed.chunks.at(-1).usage, r.usage);
  });

  test('a token-id prompt counts exactly its ids and continues like nova generate --ids', async () => {
    const ids = tokenize('Once upon a time');
    const r = await openai.completions.create({ model, prompt: ids, max_tokens: 6, temperature: 0 });
    assert.equal(r.usage.prompt_tokens, ids.length);
    const reference = generate({ ids, maxTokens: 6, temperature: 0 });
    assert.equal(r.choices[0].text, reference.text);
    assert.equal(r.usage.completion_tokens, reference.ids.length);
  });

  test('max_tokens ends with finish_reason "length"; the default is 16 tokens', async () => {
    const r = await openai.completions.create({ model, prompt, max_tokens: 3, temperature: 0 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 3);
    const d = await openai.completions.create({ model, prompt, temperature: 0 });
    assert.ok(d.usage.completion_tokens <= 16);
    if (d.choices[0].finish_reason === 'length') assert.equal(d.usage.completion_tokens, 16);
  });

  test('logprobs: one entry per token, the greedy token is the most likely, streamed the same', async () => {
    const params = { model, prompt, max_tokens: 8, temperature: 0, logprobs: 3 };
    const r = await openai.completions.create(params);
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, r.usage.completion_tokens);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    assert.equal(lp.top_logprobs.length, lp.tokens.length);
    assert.equal(lp.text_offset.length, lp.tokens.length);
    lp.tokens.forEach((tok, i) => {
      const top = Object.values(lp.top_logprobs[i]);
      // Up to 3 entries (distinct token ids can decode to the same text, e.g. "\uFFFD").
      assert.ok(top.length >= 1 && top.length <= 3);
      assert.ok(lp.token_logprobs[i] <= 0);
      for (const v of top) assert.ok(v <= lp.token_logprobs[i] + 1e-6, `token ${i}: ${v} above the greedy choice`);
      if (i > 0) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
    });
    assert.equal(lp.text_offset[0], 0);

    const streamed = await streamCompletion(params);
    assert.deepEqual(streamed.text, [r.choices[0].text]);
    assert.deepEqual(streamed.tokens, [lp.tokens]);
    streamed.tokenLogprobs[0].forEach((v, i) => assert.ok(Math.abs(v - lp.token_logprobs[i]) < 1e-4));
  });

  test('seed: same seed -> same sample, equal to nova generate with that seed', async () => {
    const params = { model, prompt, max_tokens: 16, temperature: 0.8, seed: 99 };
    const a = await openai.completions.create(params);
    const b = await openai.completions.create(params);
    assert.equal(a.choices[0].text, b.choices[0].text);
    assert.equal(a.choices[0].text, generate({ prompt, maxTokens: 16, temperature: 0.8, seed: 99 }).text);
    const c = await openai.completions.create({ ...params, seed: 100 });
    assert.notEqual(c.choices[0].text, a.choices[0].text);
  });

  test('n > 1 streamed interleaves choices that match the non-streamed ones', async () => {
    const params = { model, prompt, max_tokens: 8, temperature: 1, seed: 5, n: 2, logprobs: 0 };
    const r = await openai.completions.create(params);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    assert.notEqual(r.choices[0].text, r.choices[1].text);
    assert.equal(r.usage.completion_tokens, r.choices.reduce((s, c) => s + c.logprobs.tokens.length, 0));
    const streamed = await streamCompletion(params);
    assert.deepEqual(streamed.text, r.choices.map((c) => c.text));
    assert.deepEqual(streamed.finish, r.choices.map((c) => c.finish_reason));
  });

  test('stop strings end the text before the match', async () => {
    const base = { model, prompt, max_tokens: 32, temperature: 0 };
    const full = (await openai.completions.create(base)).choices[0].text;
    const chars = [...full];
    const at = chars.findIndex((c, i) => i > 0 && c !== '\uFFFD');
    assert.ok(at > 0, `no usable stop character in ${JSON.stringify(full)}`);
    const stop = chars[at];
    const expected = full.slice(0, full.indexOf(stop));
    const r = await openai.completions.create({ ...base, stop });
    assert.equal(r.choices[0].text, expected);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const streamed = await streamCompletion({ ...base, stop: [stop] });
    assert.deepEqual(streamed.text, [expected]);
    assert.deepEqual(streamed.finish, ['stop']);
  });
});
