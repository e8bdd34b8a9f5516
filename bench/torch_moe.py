#!/usr/bin/env python3
"""PyTorch reference for bench_cuda_moe: transformers' MixtralForCausalLM, eager, bf16, SDPA, with
the bench's Mixtral shape (hidden 2048, 16 layers, 16/8 heads, 8 experts of 5632, top-2, vocab
32000) and random weights of its own (torch.manual_seed(0): the timing does not depend on the
values beyond how the router spreads tokens, which random weights do in both). Prints prefill tok/s
of a --prompt-token prompt, decode tok/s at batch 1 and at --batch after a --context-token prompt
(generate(), the prefill cancelled out), timed with CUDA synchronisation.

Usage: python3 bench/torch_moe.py [--layers 16] [--prompt 512] [--decode 32] [--context 256] [--batch 32]
"""
import argparse
import time

import torch
import transformers
from transformers import MixtralConfig, MixtralForCausalLM


def sync_time():
    torch.cuda.synchronize()
    return time.perf_counter()


def prompt(n, vocab, batch=1):
    rows = [(torch.arange(n, device="cuda") * 7919 + 3 + b * 104729).remainder(vocab) for b in range(batch)]
    return torch.stack(rows)


@torch.inference_mode()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    cfg = MixtralConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=a.layers, num_attention_heads=16,
                        num_key_value_heads=8, head_dim=128, num_local_experts=8, num_experts_per_tok=2,
                        vocab_size=32000, max_position_embeddings=max(a.prompt, a.context) + a.decode + 64,
                        rope_theta=1e6, rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False,
                        attn_implementation="sdpa", bos_token_id=1, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        prev = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        model = MixtralForCausalLM(cfg).eval()
        torch.set_default_dtype(prev)
    vocab = cfg.vocab_size
    print(f"torch {torch.__version__} | transformers {transformers.__version__} | {torch.cuda.get_device_name()}")
    ids = prompt(a.prompt, vocab)
    model(ids, use_cache=False, logits_to_keep=1)
    best = 1e30
    for _ in range(3):
        t0 = sync_time()
        model(ids, use_cache=False, logits_to_keep=1)
        best = min(best, sync_time() - t0)
    line = f"torch eager (MixtralForCausalLM, bf16, sdpa)  prefill {a.prompt}: {a.prompt / best:8.0f} tok/s"
    kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0)

    def decode_tps(batch):
        ids = prompt(a.context, vocab, batch)

        def gen(n):
            t0 = sync_time()
            out = model.generate(ids, max_new_tokens=n, min_length=a.context + n, **kw)
            dt = sync_time() - t0
            assert out.shape[1] == a.context + n, out.shape
            return dt

        gen(4)
        short = min(gen(1) for _ in range(2))
        long = min(gen(a.decode + 1) for _ in range(2))
        return batch * a.decode / (long - short)

    line += f" | decode batch 1 (context {a.context}): {decode_tps(1):7.1f} tok/s"
    if a.batch > 0:
        line += f" | decode batch {a.batch}: {decode_tps(a.batch):8.1f} tok/s"
    print(line, flush=True)


if __name__ == "__main__":
    main()
