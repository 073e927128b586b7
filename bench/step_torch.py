# PyTorch side of bench/step.ts: the same LLaMA weights (read from the safetensors file step.ts wrote),
# the same batch, forward + masked-CE loss + backward over every parameter, timed; prints one JSON line.
# Usage: step_torch.py MODEL_DIR BATCH_JSON WARMUP STEPS, or step_torch.py MODEL_DIR BATCH_JSON --serve:
# then it prints {"ready": ...} and answers each "step" line on stdin with one timed step as a JSON line
# (so step.ts can alternate the two frameworks step by step).
import json, os, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib", "model"))
from llama_reference import forward, read_safetensors  # the HF-semantics reference forward used by the tests

def main():
    model_dir, batch_path = sys.argv[1], sys.argv[2]
    serve = sys.argv[3] == "--serve"
    warmup, steps = (0, 0) if serve else (int(sys.argv[3]), int(sys.argv[4]))
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    for w in W.values():
        w.requires_grad_(True)
    batch = json.load(open(batch_path))
    ids = torch.tensor(batch["ids"], dtype=torch.long)
    targets = torch.tensor(batch["targets"], dtype=torch.long).reshape(-1)
    def step():
        for w in W.values():
            w.grad = None
        logits = forward(W, cfg, ids)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets)
        loss.backward()
        return loss.item()
    info = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    if serve:
        print(json.dumps({"ready": True, **info}), flush=True)
        while sys.stdin.readline().strip() == "step":
            start = time.perf_counter()
            loss = step()
            print(json.dumps({"loss": loss, "seconds": time.perf_counter() - start}), flush=True)
        return
    for _ in range(warmup):
        loss = step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({"loss": loss, "seconds_per_step": seconds, **info}))

main()
