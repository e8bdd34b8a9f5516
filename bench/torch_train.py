#!/usr/bin/env python3
"""PyTorch reference for bench_cuda_train: training tokens/s and MFU of random-weight Llama-shaped
models (transformers' LlamaForCausalLM) at sequence length 1024, in the mixed precision NovaLM's GPU
trainer uses: fp32 master weights, bf16 autocast (bf16 GEMMs, fp32 accumulation), SDPA attention,
torch.optim.AdamW(fused=True), global-norm gradient clipping at 1.0. Variants: eager, and
torch.compile of the model with its loss (inductor, default mode); the optimiser step stays eager
(fused AdamW is one kernel already).

Shapes (tied embeddings for all, as GPT-2 124M and Llama-3.2-1B):
  124m: hidden 768, 12 layers, 12/12 heads, inter 2048, vocab 32000
  1b:   Llama-3.2-1B: hidden 2048, 16 layers, 32/8 heads, inter 8192, vocab 128256
  moe:  transformers' MixtralForCausalLM: hidden 1024, 8 layers, 16/8 heads, 8 experts of inter 2816,
        top-2, vocab 32000; the loss adds 0.02 x its load-balancing loss (router_aux_loss_coef)
  moe-dense: the same attention with one dense FFN of inter 5632 (the MoE's active width), Llama
(bench_cuda_train's shapes of the same names.) For the MoE, N_matmul counts the active parameters:
the router, and top_k / experts of the expert weights.

Model FLOPs (the formula bench/cuda_train.cpp uses too; PaLM's MFU convention):
  per token = 6 * N_matmul + 12 * layers * (q_heads * head_dim) * seq
  N_matmul  = every weight a matmul reads: per layer q, k, v, o, gate, up, down, plus the LM head
              (vocab * hidden, counted even though it is tied to the embedding); not the embedding
              lookup, not the norm weights.
  The attention term counts the full T x T score matrix (QK^T and PV, forward 1x + backward 2x),
  not the causal half, as PaLM's formula does.
  MFU = per-token FLOPs * tokens/s / peak bf16 FLOP/s, the peak measured in the same run by
  torch.matmul of 8192^3 bf16 random matrices (best of several).

Sanity figures beside the speed: the loss of every step (the steps cycle over 4 random batches) and
the loss of a fifth batch no step saw; bench_cuda_train prints the same.

Timing: `--warmup` untimed steps (compilation included), then `--steps` timed steps, each ended by
loss.item() (NovaLM's step returns its loss to the host too); tokens/s from the median step time.
Batch: `--batch 124m:N,1b:N`, or `auto` (default): doubling from 4 while an eager step fits (up to
--max-batch), the largest that fitted; say which in the output and run NovaLM with the same.

Output: one JSON line per measurement (prefix "JSON "), then a short table.
Usage: python3 bench/torch_train.py [--models 124m,1b (or moe, moe-dense)] [--batch auto|124m:32,1b:8] [--max-batch 64]
                                    [--steps 10] [--warmup 3] [--seq 1024] [--compile 124m,1b]
"""
import argparse
import gc
import json
import statistics
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, MixtralConfig, MixtralForCausalLM

SHAPES = {
    "124m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                 num_key_value_heads=12, vocab_size=32000, tie_word_embeddings=True),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "moe": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=8, vocab_size=32000, tie_word_embeddings=True, num_local_experts=8,
                num_experts_per_tok=2),
    "moe-dense": dict(hidden_size=1024, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=16,
                      num_key_value_heads=8, vocab_size=32000, tie_word_embeddings=True),
}
ROUTER_AUX_LOSS_COEF = 0.02  # Mixtral's, as bench_cuda_train


def counts(shape, seq):
    """(N_total, N_matmul, FLOPs per token) with the formula in the module docstring."""
    h, i, L = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    hq, hkv, V = shape["num_attention_heads"], shape["num_key_value_heads"], shape["vocab_size"]
    d = h // hq
    E, k = shape.get("num_local_experts", 0), shape.get("num_experts_per_tok", 0)
    attn = h * (hq * d) + 2 * h * (hkv * d) + (hq * d) * h
    ffn_all = E * 3 * h * i + E * h if E else 3 * h * i  # experts + router, or one dense FFN
    ffn_active = k * 3 * h * i + E * h if E else 3 * h * i
    n_matmul = L * (attn + ffn_active) + V * h
    n_total = L * (attn + ffn_all + 2 * h) + h + V * h * (1 if shape["tie_word_embeddings"] else 2)
    flops_tok = 6 * n_matmul + 12 * L * (hq * d) * seq
    return n_total, n_matmul, flops_tok


def peak_bf16_tflops(n=8192, reps=10):
    """Best TFLOP/s of torch.matmul n^3 in bf16 on random data (CUDA events around each)."""
    g = torch.Generator(device="cuda").manual_seed(1)
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    best = 1e30
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        torch.matmul(a, b, out=c)
        e1.record()
        e1.synchronize()
        best = min(best, e0.elapsed_time(e1) / 1e3)
    assert torch.isfinite(c).all()
    del a, b, c
    return 2.0 * n ** 3 / best / 1e12


class WithLoss(torch.nn.Module):
    """The model and its next-token cross-entropy (logits upcast to fp32 as transformers' loss does)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, y):
        out = self.model(input_ids=x, use_cache=False)
        loss = F.cross_entropy(out.logits.float().view(-1, out.logits.shape[-1]), y.view(-1))
        aux = getattr(out, "aux_loss", None)  # MoE: the load-balancing loss (output_router_logits)
        return loss if aux is None else loss + ROUTER_AUX_LOSS_COEF * aux


def make_model(name, seq):
    shape = SHAPES[name]
    common = dict(max_position_embeddings=max(seq, 2048), rope_theta=500000.0, rms_norm_eps=1e-5,
                  attn_implementation="sdpa", bos_token_id=1, eos_token_id=None, pad_token_id=0, use_cache=False)
    if "num_local_experts" in shape:
        cfg = MixtralConfig(**shape, **common, sliding_window=None, output_router_logits=True,
                            router_aux_loss_coef=ROUTER_AUX_LOSS_COEF)
        cls = MixtralForCausalLM
    else:
        cfg, cls = LlamaConfig(**shape, **common), LlamaForCausalLM
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = cls(cfg)  # fp32 master weights
    model.train()
    return model


def make_batch(B, T, vocab, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    tok = torch.randint(0, vocab, (B, T + 1), device="cuda", generator=g)
    return tok[:, :-1].contiguous(), tok[:, 1:].contiguous()


class Runner:
    def __init__(self, model, fn):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                                     fused=True)
        self.fn = fn

    def step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = self.fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0, foreach=True)
        self.opt.step()
        return loss.item()

    def free(self):
        self.opt.zero_grad(set_to_none=True)
        self.opt.state.clear()


def fits(name, B, T):
    """Whether one eager step (optimizer state included) at batch B fits in device memory."""
    model = make_model(name, T)
    runner = Runner(model, WithLoss(model))
    ok = True
    try:
        x, y = make_batch(B, T, SHAPES[name]["vocab_size"], 0)
        runner.step(x, y)
    except torch.OutOfMemoryError:
        ok = False
    runner.free()
    del runner, model
    gc.collect()
    torch.cuda.empty_cache()
    return ok


def find_batch(name, T, max_batch):
    best, B = 0, 4
    while B <= max_batch and fits(name, B, T):
        best, B = B, B * 2
    if best == 0:
        raise SystemExit(f"{name}: batch 4 does not fit")
    return best


def bench(name, variant, B, T, steps, warmup, peak):
    shape = SHAPES[name]
    n_total, n_matmul, flops_tok = counts(shape, T)
    model = make_model(name, T)
    assert sum(p.numel() for p in model.parameters()) == n_total, "parameter count formula"
    fn = eager_fn = WithLoss(model)
    t0 = time.perf_counter()
    if variant == "compile":
        torch._dynamo.reset()
        fn = torch.compile(fn)
    runner = Runner(model, fn)
    batches = [make_batch(B, T, shape["vocab_size"], s) for s in range(4)]  # cycled by the steps
    torch.cuda.reset_peak_memory_stats()
    losses = []
    for s in range(warmup):
        losses.append(runner.step(*batches[s % len(batches)]))
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    times = []
    for s in range(steps):
        t = time.perf_counter()
        losses.append(runner.step(*batches[s % len(batches)]))
        times.append(time.perf_counter() - t)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):  # a batch no step saw
        unseen = eager_fn(*make_batch(B, T, shape["vocab_size"], 4)).item()
    med = statistics.median(times)
    tok = B * T
    r = dict(impl="torch-" + variant, model=name, params=n_total, params_matmul=n_matmul, batch=B, seq=T,
             tokens_per_step=tok, steps=steps, step_ms_median=med * 1e3, step_ms_min=min(times) * 1e3,
             tokens_per_s=tok / med, model_flops_per_token=flops_tok, achieved_tflops=flops_tok * tok / med / 1e12,
             peak_tflops=peak, mfu=flops_tok * tok / med / 1e12 / peak, loss_first=losses[0], loss_last=losses[-1],
             losses=losses, unseen_batch_loss=unseen,
             warmup_s=warm_s, max_mem_gib=torch.cuda.max_memory_allocated() / 2 ** 30)
    runner.free()
    del runner, fn, eager_fn, model, batches
    gc.collect()
    torch.cuda.empty_cache()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="124m,1b")
    ap.add_argument("--batch", default="auto")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--compile", default="124m,1b", help="models to also run with torch.compile")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 work stays fp32; the GEMMs run in bf16 anyway
    print(f"torch {torch.__version__} | transformers {transformers.__version__} | {torch.cuda.get_device_name()}",
          flush=True)
    peak = peak_bf16_tflops()
    print("JSON " + json.dumps(dict(impl="torch", measure="peak_bf16_gemm", n=8192, tflops=peak)), flush=True)
    fixed = {}
    if a.batch != "auto":
        for kv in a.batch.split(","):
            k, v = kv.split(":")
            fixed[k] = int(v)
    rows = []
    for name in [m for m in a.models.split(",") if m]:
        if name in fixed:
            B, how = fixed[name], "given"
        else:
            B, how = find_batch(name, a.seq, a.max_batch), f"auto: largest of 4, 8, ... <= {a.max_batch} that fits eager"
        print(f"== {name}: batch {B} ({how}), seq {a.seq}", flush=True)
        variants = ["eager"] + (["compile"] if name in a.compile.split(",") else [])
        for v in variants:
            try:
                r = bench(name, v, B, a.seq, a.steps, a.warmup, peak)
            except Exception as e:  # report and go on: the other figures stand
                msg = str(e).splitlines()[0][:300] if str(e) else ""
                print("JSON " + json.dumps(dict(impl="torch-" + v, model=name, batch=B, error=f"{type(e).__name__}: {msg}")),
                      flush=True)
                gc.collect()
                torch.cuda.empty_cache()
                continue
            r["batch_choice"] = how
            rows.append(r)
            print("JSON " + json.dumps(r), flush=True)
    print(f"\npeak bf16 GEMM (torch.matmul 8192^3, best of 10): {peak:.1f} TFLOP/s")
    print(f"{'impl':15s} {'model':9s} {'batch':>5s} {'tok/s':>10s} {'step ms':>8s} {'TFLOP/s':>8s} {'MFU':>6s} "
          f"{'mem GiB':>7s} {'loss':>7s}")
    for r in rows:
        print(f"{r['impl']:15s} {r['model']:9s} {r['batch']:5d} {r['tokens_per_s']:10.0f} {r['step_ms_median']:8.1f} "
              f"{r['achieved_tflops']:8.1f} {100 * r['mfu']:5.1f}% {r['max_mem_gib']:7.1f} {r['loss_last']:7.3f}")


if __name__ == "__main__":
    main()
