"""PyTorch side of `npm run bench`: forward+backward steps of the reference model
(test/fixtures/reference.py, plain torch following transformers) for one config, on the CPU with
2 threads. Called by bench/run.ts with one JSON argument:
  {"config": <HF config.json>, "B": 8, "T": 128, "warmup": 1, "steps": 2}
Prints one JSON line: {"step_s": [...], "tokens_per_s": ...}.
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures"))
import torch  # noqa: E402
from reference import gpt2_forward, gpt2_shapes, llama_forward, llama_shapes  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)

args = json.loads(sys.argv[1])
cfg, B, T = args["config"], args["B"], args["T"]
llama = cfg["model_type"] == "llama"
shapes = llama_shapes(cfg) if llama else gpt2_shapes(cfg)
forward = llama_forward if llama else gpt2_forward
# transformers-style init: normal(0, initializer_range) for matrices, norm weights 1, biases 0.
params = {}
for name, shape in shapes.items():
    if len(shape) == 2:
        t = torch.randn(shape) * cfg["initializer_range"]
    elif name.endswith("weight"):
        t = torch.ones(shape)
    else:
        t = torch.zeros(shape)
    params[name] = t.requires_grad_(True)
ids = torch.randint(0, cfg["vocab_size"], (B, T))


def step():
    logits = forward(params, cfg, ids)
    V = logits.shape[-1]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    loss.backward()
    for p in params.values():
        p.grad = None


for _ in range(args["warmup"]):
    step()
times = []
for _ in range(args["steps"]):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
mean = sum(times) / len(times)
print(json.dumps({"step_s": times, "tokens_per_s": B * T / mean, "threads": torch.get_num_threads(), "torch": torch.__version__}))
