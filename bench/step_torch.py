# PyTorch side of bench/step.ts: the same LLaMA weights (read from the safetensors file step.ts wrote),
# the same batch, forward + masked-CE loss + backward, timed. Full training: every parameter gets a
# gradient; with --lora LORA_JSON ({module path: {"a", "b", "r", "scaling"}}, as step.ts writes it): the
# base is frozen (requires_grad False, as PEFT does) and only each adapter's A and B get gradients.
# Usage: step_torch.py MODEL_DIR BATCH_JSON [--lora LORA_JSON] (--serve | WARMUP STEPS). With --serve
# it prints {"ready": ...} and answers each "step" line on stdin with one timed step as a JSON line (so
# step.ts can alternate the two frameworks step by step); otherwise it prints one JSON line of means.
# --threads N sets torch.set_num_threads(N) (default: PyTorch's own choice).
import argparse, json, os, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib", "model"))
from llama_reference import forward, read_lora, read_safetensors  # the HF-semantics reference forward used by the tests

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("batch")
    parser.add_argument("--lora")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("counts", nargs="*", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.model_dir, "config.json")))
    W = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    lora, adapters = read_lora(json.load(open(args.lora)) if args.lora else None, W)
    trained = list(adapters.values()) if args.lora else list(W.values())
    for w in trained:
        w.requires_grad_(True)
    batch = json.load(open(args.batch))
    ids = torch.tensor(batch["ids"], dtype=torch.long)
    targets = torch.tensor(batch["targets"], dtype=torch.long).reshape(-1)
    def step():
        for w in trained:
            w.grad = None
        logits = forward(W, cfg, ids, lora)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets)
        loss.backward()
        return loss.item()
    info = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.serve:
        print(json.dumps({"ready": True, **info}), flush=True)
        while sys.stdin.readline().strip() == "step":
            start = time.perf_counter()
            loss = step()
            print(json.dumps({"loss": loss, "seconds": time.perf_counter() - start}), flush=True)
        return
    warmup, steps = args.counts
    for _ in range(warmup):
        loss = step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({"loss": loss, "seconds_per_step": seconds, **info}))

main()
