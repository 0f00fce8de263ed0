"""PyTorch CPU side of `npm run bench`: each loss forward+backward on the same [N, V] workload.

Reads a JSON spec {n, v, iters, losses: [name, ...]} from argv[1]; prints one JSON line
{name: mean ms}. Uses the float64-free versions of the fixture's reference losses (same formulas,
same -inf handling) in float32, with torch.set_num_threads(2) like the rest of the benches.
"""

import importlib.util
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec_ = importlib.util.spec_from_file_location("fx", os.path.join(HERE, "..", "test", "fixtures", "make_losses_fixture.py"))
fx = importlib.util.module_from_spec(spec_)
spec_.loader.exec_module(fx)
fx.STRICT_TOP_P = False  # random 16k-token rows always have tokens near the top-p boundary
torch.set_default_dtype(torch.float32)
torch.set_num_threads(2)


def main():
    spec = json.loads(sys.argv[1])
    n, v, iters = spec["n"], spec["v"], spec["iters"]
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, v, (n,), generator=g)
    labels[::20] = -100
    data = dict(student=torch.randn(n, v, generator=g), teachers=[torch.randn(n, v, generator=g)], labels=labels)
    out = {}
    # nllSoft against pre-truncated teacher logits (as on the kdgpu side); truncation timed apart.
    t = data["teachers"][0]
    if spec.get("truncation"):
        kept = fx.truncate(t, 0.95, 100)
    else:
        kept = t.masked_fill(torch.rand(n, v, generator=g) >= 100 / v, float("-inf"))
    truncated = dict(data, teachers=[kept])
    for name in spec["losses"]:
        d, o = (truncated, {"topP": 1, "topK": 0}) if name == "nllSoft" else (data, {})
        fx.reference(name, d, o)  # warm-up
        t0 = time.perf_counter()
        for _ in range(iters):
            fx.reference(name, d, o)
        out[name] = (time.perf_counter() - t0) / iters * 1000
    if spec.get("truncation"):
        t0 = time.perf_counter()
        for _ in range(iters):
            fx.truncate(t, 0.95, 100)
        out["truncate"] = (time.perf_counter() - t0) / iters * 1000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
