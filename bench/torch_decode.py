#!/usr/bin/env python3
"""PyTorch reference for bench_cuda_decode: transformers' LlamaForCausalLM with the same shapes
(Llama-3.2-1B, Llama-3.1-8B), bf16 random weights, on the GPU. Variants: eager with SDPA attention
(DynamicCache), and compiled decoding with a static cache: generate()'s own compilation of the decode
step (inductor, reduce-overhead), or else torch.compile of the forward in default mode. Prints
prefill tok/s for each prompt length and decode tok/s at batch 1 after a `--context`-token prompt,
timed with CUDA synchronisation.

Usage: python3 bench/torch_decode.py [--models 1b,8b] [--prompts 512,8192] [--decode 64]
                                     [--context 512] [--compile 1b,8b]
"""
import argparse
import gc
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False),
}


def sync_time():
    torch.cuda.synchronize()
    return time.perf_counter()


def make_model(name, max_pos):
    cfg = LlamaConfig(**SHAPES[name], max_position_embeddings=max_pos, rope_theta=500000.0, rms_norm_eps=1e-5,
                      attn_implementation="sdpa", bos_token_id=1, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        prev = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        model = LlamaForCausalLM(cfg)
        torch.set_default_dtype(prev)
    return model.eval()


def prompt(n, vocab, salt=0):
    return (torch.arange(n, device="cuda") * 7919 + 3 + salt * 104729).remainder(vocab).unsqueeze(0)


@torch.inference_mode()
def prefill_tps(model, n, vocab):
    ids = prompt(n, vocab)
    model(ids, use_cache=False, logits_to_keep=1)  # warm-up
    best = 1e30
    for _ in range(2):
        t0 = sync_time()
        model(ids, use_cache=False, logits_to_keep=1)
        best = min(best, sync_time() - t0)
    return n / best, best


@torch.inference_mode()
def decode_tps(model, context, steps, vocab, static):
    """Decode tok/s at batch 1 through generate(): (time of context+1+steps tokens - time of
    context+1) / steps, so the prefill cancels out."""
    ids = prompt(context, vocab)
    kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0)
    if static:
        kw["cache_implementation"] = "static"

    def gen(n):
        t0 = sync_time()
        out = model.generate(ids, max_new_tokens=n, min_length=context + n, **kw)
        dt = sync_time() - t0
        assert out.shape[1] == context + n, out.shape
        return dt

    gen(steps + 1)  # warm-up (and, compiled, the compilations)
    gen(1)
    short = min(gen(1) for _ in range(2))
    long = min(gen(steps + 1) for _ in range(2))
    return steps / (long - short), (long - short) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="1b,8b")
    ap.add_argument("--prompts", default="512,8192")
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--compile", default="1b,8b", help="models to also run with torch.compile")
    a = ap.parse_args()
    prompts = [int(p) for p in a.prompts.split(",") if p]
    print(f"torch {torch.__version__} | transformers {transformers.__version__} | {torch.cuda.get_device_name()}")
    for name in [m for m in a.models.split(",") if m]:
        vocab = SHAPES[name]["vocab_size"]
        model = make_model(name, max(prompts + [a.context]) + a.decode + 64)
        print(f"\n== llama {name} (transformers, bf16, sdpa)")
        for p in prompts:
            tps, s = prefill_tps(model, p, vocab)
            print(f"torch eager  prefill {p:5d} tokens: {tps:9.0f} tok/s ({s * 1e3:.1f} ms)", flush=True)
        tps, s = decode_tps(model, a.context, a.decode, vocab, static=False)
        print(f"torch eager  decode batch 1 (context {a.context}): {tps:7.1f} tok/s ({s * 1e3:.3f} ms/token)", flush=True)
        if name in a.compile.split(","):
            eager_forward = model.forward
            # "auto": generate() with a static cache compiles the decode step itself (transformers'
            # own recipe: inductor, reduce-overhead = CUDA graphs). "manual": torch.compile of the
            # forward in default mode, the fallback if the first fails.
            for variant in ("auto", "manual"):
                try:
                    t0 = time.perf_counter()
                    torch._dynamo.reset()
                    torch._dynamo.utils.counters.clear()
                    if variant == "manual":
                        model.forward = torch.compile(eager_forward, mode="default", fullgraph=True)
                    tps, s = decode_tps(model, a.context, a.decode, vocab, static=True)
                    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
                    print(f"torch compile decode batch 1 (context {a.context}): {tps:7.1f} tok/s ({s * 1e3:.3f} "
                          f"ms/token) [static cache, {variant}, {graphs} compiled graphs; "
                          f"{time.perf_counter() - t0:.0f} s incl. compile]", flush=True)
                    if graphs > 0:
                        break
                except Exception as e:  # report, try the next variant: the eager figures stand
                    print(f"torch compile ({variant}): failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                          flush=True)
            model.forward = eager_forward
        del model
        gc.collect()
        torch.cuda.empty_cache()
        torch._dynamo.reset()


if __name__ == "__main__":
    main()
