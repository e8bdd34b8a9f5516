// /v1/chat/completions through the official SDK: every answer is checked against an independent
// reference — the same request streamed vs not, `nova template` + `nova tokenize` for the prompt's
// token count, `nova generate` (in-process, no server) for the generated text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { client, generate, model, renderChat, tokenize } from './support.mjs';

const openai = client();
const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name three colours.' },
];

// Streams a chat request; returns per-choice text, finish reasons, logprobs and every chunk.
async function streamChat(params) {
  const stream = await openai.chat.completions.create({ ...params, stream: true });
  const chunks = [];
  const text = [], finish = [], logprobs = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      text[c.index] = (text[c.index] ?? '') + (c.delta.content ?? '');
      if (c.finish_reason) finish[c.index] = c.finish_reason;
      if (c.logprobs?.content) logprobs[c.index] = [...(logprobs[c.index] ?? []), ...c.logprobs.content];
    }
  }
  return { chunks, text, finish, logprobs };
}

describe('chat completions', () => {
  test('greedy answer equals in-process generation, streamed or not, with exact usage', async () => {
    const params = { model, messages, max_tokens: 12, temperature: 0 };
    const full = await openai.chat.completions.create(params);
    assert.equal(full.object, 'chat.completion');
    assert.match(full.id, /^chatcmpl-/);
    assert.equal(full.model, model);
    assert.equal(full.choices.length, 1);
    const [choice] = full.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');

    // The server renders the template and tokenizes without special tokens, like `nova template`
    // + `nova tokenize`; then generation must match `nova generate` on that prompt token for token.
    const prompt = renderChat(messages);
    const promptIds = tokenize(prompt);
    const reference = generate({ prompt, noSpecial: true, maxTokens: 12, temperature: 0 });
    assert.equal(choice.message.content, reference.text);
    assert.equal(full.usage.prompt_tokens, promptIds.length);
    assert.equal(full.usage.completion_tokens, reference.ids.length);
    assert.equal(full.usage.total_tokens, promptIds.length + reference.ids.length);
    assert.equal(choice.finish_reason, reference.ids.length === 12 ? 'length' : 'stop');

    const streamed = await streamChat({ ...params, stream_options: { include_usage: true } });
    assert.deepEqual(streamed.text, [choice.message.content]);
    assert.deepEqual(streamed.finish, [choice.finish_reason]);
    const { chunks } = streamed;
    assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
      assert.equal(c.model, model);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    // include_usage: a last chunk with no choices carries the usage; the others carry null.
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, full.usage);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  test('streaming without stream_options sends no usage', async () => {
    const { chunks, text } = await streamChat({ model, messages, max_tokens: 4, temperature: 0 });
    assert.ok(text[0].length > 0);
    for (const c of chunks) {
      assert.equal(c.usage, undefined);
      assert.ok(c.choices.length > 0);
    }
  });

  test('max_tokens and max_completion_tokens end with finish_reason "length"', async () => {
    for (const limit of [{ max_tokens: 5 }, { max_completion_tokens: 3 }]) {
      const n = Object.values(limit)[0];
      const r = await openai.chat.completions.create({ model, messages, temperature: 0, ...limit });
      assert.equal(r.choices[0].finish_reason, 'length', JSON.stringify(limit));
      assert.equal(r.usage.completion_tokens, n, JSON.stringify(limit));
    }
  });

  test('logprobs and top_logprobs describe the greedy choice, streamed or not', async () => {
    const params = { model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 };
    const r = await openai.chat.completions.create(params);
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const t of content) {
      assert.equal(t.top_logprobs.length, 3);
      assert.ok(t.logprob <= 0);
      // Greedy picks the most likely token: it heads its own top list.
      assert.equal(t.top_logprobs[0].token, t.token);
      assert.equal(t.top_logprobs[0].logprob, t.logprob);
      for (let i = 1; i < 3; ++i) assert.ok(t.top_logprobs[i].logprob <= t.top_logprobs[i - 1].logprob);
      const mass = t.top_logprobs.reduce((s, x) => s + Math.exp(x.logprob), 0);
      assert.ok(mass <= 1 + 1e-5, `top-3 probability mass ${mass}`);
      assert.equal(Buffer.from(t.bytes).toString('utf8'), t.token);
    }

    const streamed = await streamChat(params);
    assert.equal(streamed.text[0], r.choices[0].message.content);
    assert.equal(streamed.logprobs[0].length, content.length);
    streamed.logprobs[0].forEach((t, i) => {
      assert.equal(t.token, content[i].token);
      assert.ok(Math.abs(t.logprob - content[i].logprob) < 1e-4, `token ${i}: ${t.logprob} vs ${content[i].logprob}`);
    });

    const plain = await openai.chat.completions.create({ model, messages, max_tokens: 2, temperature: 0 });
    assert.equal(plain.choices[0].logprobs, null);
  });

  test('seed: the same seed and temperature > 0 give the same text as in-process sampling', async () => {
    const params = { model, messages, max_tokens: 16, temperature: 0.9, seed: 1234 };
    const a = await openai.chat.completions.create(params);
    const b = await openai.chat.completions.create(params);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    const reference = generate({ prompt: renderChat(messages), noSpecial: true, maxTokens: 16, temperature: 0.9,
                                 seed: 1234 });
    assert.equal(a.choices[0].message.content, reference.text);
    const other = await openai.chat.completions.create({ ...params, seed: 4321 });
    assert.notEqual(other.choices[0].message.content, a.choices[0].message.content);
  });

  test('n > 1: distinct seeded choices, reproducible, the same streamed, usage summed', async () => {
    const params = { model, messages, max_tokens: 10, temperature: 1, seed: 7, n: 3, logprobs: true };
    const r = await openai.chat.completions.create(params);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    const texts = r.choices.map((c) => c.message.content);
    assert.ok(new Set(texts).size > 1, `n=3 gave three identical samples: ${JSON.stringify(texts)}`);
    const tokens = r.choices.reduce((s, c) => s + c.logprobs.content.length, 0);
    assert.equal(r.usage.completion_tokens, tokens);

    const again = await openai.chat.completions.create(params);
    assert.deepEqual(again.choices.map((c) => c.message.content), texts);

    const streamed = await streamChat({ ...params, stream_options: { include_usage: true } });
    assert.deepEqual(streamed.text, texts);
    assert.deepEqual(streamed.finish, r.choices.map((c) => c.finish_reason));
    assert.deepEqual(streamed.chunks.at(-1).usage, r.usage);
  });

  test('stop cuts the text before the first stop sequence, streamed or not', async () => {
    // The random-weight demo model's greedy reply is all invalid UTF-8 (U+FFFD), so sample:
    // seeded sampling is reproducible (tested above). The stop string is a real character taken
    // from the first seed's reply that has one after its first character.
    let base, full, stop;
    for (let seed = 0; seed < 20 && !stop; ++seed) {
      base = { model, messages, max_tokens: 32, temperature: 1, seed };
      full = (await openai.chat.completions.create(base)).choices[0].message.content;
      stop = [...full].find((c, i) => i > 0 && c !== '\uFFFD');
    }
    assert.ok(stop, `no usable stop character in 20 samples, the last ${JSON.stringify(full)}`);
    const expected = full.slice(0, full.indexOf(stop));

    const r = await openai.chat.completions.create({ ...base, stop: ['<never-generated>', stop] });
    assert.equal(r.choices[0].message.content, expected);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const streamed = await streamChat({ ...base, stop });
    assert.deepEqual(streamed.text, [expected]);
    assert.deepEqual(streamed.finish, ['stop']);
  });

  test('models.list and models.retrieve name the served model', async () => {
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    assert.deepEqual(ids, [model]);
    const m = await openai.models.retrieve(model);
    assert.equal(m.id, model);
    assert.equal(m.object, 'model');
  });
});
