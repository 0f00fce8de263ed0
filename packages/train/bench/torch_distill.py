"""PyTorch side of the train bench: the same step as kdgpu's trainer (student forward; with
teachers, the frozen teachers under no_grad, logit-averaged ensemble, CE + T^2-scaled forward KL at
kdRatio 0.5; without, CE alone; AdamW, global-norm clipping), on the CPU, models from the
plain-torch reference in packages/models/test/fixtures/reference.py. One JSON argument:
  {"student": <config>, "teachers": [<config>, ...], "B": 8, "T": 128, "steps": 2, "warmup": 1, "threads": 2}
Prints one JSON line {"step_s": [...], "tokens_per_s": ...}.
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "test", "fixtures"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from reference import gpt2_forward, gpt2_shapes, llama_forward, llama_shapes  # noqa: E402

args = json.loads(sys.argv[1])
torch.set_num_threads(args.get("threads", 2))
torch.manual_seed(0)
B, T, tau = args["B"], args["T"], 2.0


def build(cfg, grad):
    llama = cfg["model_type"] == "llama"
    shapes = llama_shapes(cfg) if llama else gpt2_shapes(cfg)
    p = {}
    for name, shape in shapes.items():
        t = torch.randn(shape) * 0.02 if len(shape) == 2 else (torch.ones(shape) if name.endswith("weight") else torch.zeros(shape))
        p[name] = t.requires_grad_(grad)
    return p, (llama_forward if llama else gpt2_forward), cfg


student = build(args["student"], True)
teachers = [build(c, False) for c in args["teachers"]]
opt = torch.optim.AdamW(list(student[0].values()), lr=3e-4, weight_decay=0.1)
ids = torch.randint(0, args["student"]["vocab_size"], (B, T))


def step():
    logits = student[1](student[0], student[2], ids)
    V = logits.shape[-1]
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    if teachers:
        with torch.no_grad():
            tl = torch.stack([f(p, c, ids) for p, f, c in teachers]).mean(0)
        kd = F.kl_div(F.log_softmax(logits[:, :-1] / tau, -1).reshape(-1, V), F.softmax(tl[:, :-1] / tau, -1).reshape(-1, V), reduction="batchmean") * tau * tau
        (0.5 * ce + 0.5 * kd).backward()
    else:
        ce.backward()
    torch.nn.utils.clip_grad_norm_(list(student[0].values()), 1.0)
    opt.step()
    opt.zero_grad()


for _ in range(args.get("warmup", 1)):
    step()
times = []
for _ in range(args["steps"]):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
print(json.dumps({"step_s": times, "tokens_per_s": B * T / (sum(times) / len(times))}))
