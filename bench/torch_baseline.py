#!/usr/bin/env python3
"""PyTorch CPU side of `npm run bench`: the same workloads as bench/run.ts, timed the same way
(mean over a few runs after one warm-up). Prints one JSON line {name: mean_ms}."""
import json
import math
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)
spec = json.loads(sys.argv[1])


def timeit(fn, reps):
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1000


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def block_params(d, ff):
    def p(*s, std=0.02):
        return (torch.randn(*s) * std).requires_grad_(True)
    return dict(ln1g=torch.ones(d, requires_grad=True), ln1b=torch.zeros(d, requires_grad=True),
                wqkv=p(d, 3 * d), bqkv=p(3 * d), wo=p(d, d), bo=p(d),
                ln2g=torch.ones(d, requires_grad=True), ln2b=torch.zeros(d, requires_grad=True),
                w1=p(d, ff), b1=p(ff), w2=p(ff, d), b2=p(d))


def block(x, P, heads):
    B, T, C = x.shape
    D = C // heads
    h = torch.nn.functional.layer_norm(x, (C,), P["ln1g"], P["ln1b"])
    q, k, v = (h @ P["wqkv"] + P["bqkv"]).split(C, dim=-1)
    q, k, v = [t.reshape(B, T, heads, D).transpose(1, 2) for t in (q, k, v)]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    x = x + y @ P["wo"] + P["bo"]
    h = torch.nn.functional.layer_norm(x, (C,), P["ln2g"], P["ln2b"])
    return x + gelu(h @ P["w1"] + P["b1"]) @ P["w2"] + P["b2"]


out = {}
for w in spec:
    kind, name, reps = w["kind"], w["name"], w.get("reps", 5)
    if kind == "matmul":
        a = torch.randn(*w["a"]); b = torch.randn(*w["b"])
        if w.get("ta"): a = torch.randn(*w["a"][:-2], w["a"][-1], w["a"][-2]).transpose(-2, -1)
        if w.get("tb"): b = torch.randn(*w["b"][:-2], w["b"][-1], w["b"][-2]).transpose(-2, -1)
        out[name] = timeit(lambda: a @ b, reps)
    elif kind == "add":
        a = torch.randn(w["n"]); b = torch.randn(w["n"])
        out[name] = timeit(lambda: a + b, reps)
    elif kind == "softmax":
        x = torch.randn(w["rows"], w["cols"])
        out[name] = timeit(lambda: torch.softmax(x, -1), reps)
    elif kind == "mlp":
        n, i, h, o = w["dims"]
        x = torch.randn(n, i); y = torch.randn(n, o)
        w1 = (torch.randn(i, h) * 0.02).requires_grad_(True); b1 = torch.zeros(h, requires_grad=True)
        w2 = (torch.randn(h, o) * 0.02).requires_grad_(True); b2 = torch.zeros(o, requires_grad=True)
        params = [w1, b1, w2, b2]

        def step():
            loss = ((torch.relu(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= 0.01 * p.grad
                    p.grad = None
        out[name] = timeit(step, reps)
    elif kind == "block":
        B, T, d, heads, ff = w["B"], w["T"], w["d"], w["heads"], w["ff"]
        P = block_params(d, ff)
        x = torch.randn(B, T, d)

        def fb():
            block(x, P, heads).square().mean().backward()
            for p in P.values():
                p.grad = None
        out[name] = timeit(fb, reps)
    elif kind in ("layernorm", "rmsnorm", "gelu", "swiglu"):
        n, c = w["n"], w["c"]
        x = torch.randn(n, c, requires_grad=True); g = torch.randn(n, c, requires_grad=True)
        wt = torch.randn(c, requires_grad=True); b = torch.randn(c, requires_grad=True)
        f = {
            "layernorm": lambda: torch.nn.functional.layer_norm(x, (c,), wt, b),
            "rmsnorm": lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * wt,
            "gelu": lambda: torch.nn.functional.gelu(x, approximate="tanh"),
            "swiglu": lambda: torch.nn.functional.silu(x) * g,
        }[kind]

        def run():
            f().mean().backward()
            for t in (x, g, wt, b):
                t.grad = None
        out[name] = timeit(run, reps)
    elif kind == "rope":
        B, H, T, D = w["shape"]
        x = torch.randn(B, H, T, D, requires_grad=True)
        inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
        ang = torch.outer(torch.arange(T).float(), inv)
        c = torch.cat([ang.cos()] * 2, -1); s = torch.cat([ang.sin()] * 2, -1)

        def run():
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            (x * c + torch.cat([-x2, x1], -1) * s).mean().backward()
            x.grad = None
        out[name] = timeit(run, reps)
    elif kind == "attention":
        B, H, T, D = w["shape"]
        q, k, v = [torch.randn(B, H, T, D, requires_grad=True) for _ in range(3)]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)

        def run():
            att = (q @ k.transpose(-2, -1) / math.sqrt(D)).masked_fill(mask, float("-inf")).softmax(-1)
            (att @ v).mean().backward()
            for t in (q, k, v):
                t.grad = None
        out[name] = timeit(run, reps)
    elif kind == "ce":
        logits = torch.randn(w["n"], w["v"], requires_grad=True)
        labels = torch.tensor([(i * 7919) % w["v"] for i in range(w["n"])])

        def run():
            torch.nn.functional.cross_entropy(logits, labels).backward()
            logits.grad = None
        out[name] = timeit(run, reps)
    else:
        raise SystemExit(f"unknown workload kind {kind}")
print(json.dumps(out))
