# PyTorch reference for recipe training: LoRA fine-tuning of a float32 LLaMA as PEFT + torch run it.
# PEFT itself is not installed here, so this is a small PEFT-equivalent LoRA: each targeted linear
# computes x W^T + (x A^T) B^T * (lora_alpha / r) with W frozen and only A and B trained (no dropout),
# on tests/lib/model/llama_reference.py's forward of Hugging Face's LlamaForCausalLM. The optimizer is
# torch.optim.AdamW itself and clipping is torch.nn.utils.clip_grad_norm_, as Hugging Face's Trainer calls them.
# stdin: {"model_dir", "adapter_dir", "rows": [{"input_ids", "labels"?}], "batch_size", "steps", "lr",
#         "betas", "eps", "weight_decay", "max_grad_norm"}
# stdout: {"losses": [...], "grad_norms": [...], "adapter": {PEFT tensor name: [...flat]}}
import json, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
from llama_reference import forward, read_safetensors  # noqa: E402

PREFIX = "base_model.model."

def batch_of(rows):
    """Right-padded [B, T] ids and labels (-100 at padding and where the row says), as a data collator pads."""
    T = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), T), 2, dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r.get("labels") or r["input_ids"])
    return ids, labels

def main():
    req = json.load(sys.stdin)
    torch.manual_seed(0)
    cfg = json.load(open(os.path.join(req["model_dir"], "config.json")))
    W = read_safetensors(os.path.join(req["model_dir"], "model.safetensors"))
    adapter_cfg = json.load(open(os.path.join(req["adapter_dir"], "adapter_config.json")))
    saved = read_safetensors(os.path.join(req["adapter_dir"], "adapter_model.safetensors"))
    scaling = adapter_cfg["lora_alpha"] / adapter_cfg["r"]
    lora, names, params = {}, [], []
    for name in sorted(saved):
        if not name.endswith(".lora_A.weight"):
            continue
        path = name[len(PREFIX):-len(".lora_A.weight")]
        a = saved[name].clone().requires_grad_(True)
        b = saved[PREFIX + path + ".lora_B.weight"].clone().requires_grad_(True)
        lora[path] = (a, b, scaling)
        names += [PREFIX + path + ".lora_A.weight", PREFIX + path + ".lora_B.weight"]
        params += [a, b]
    opt = torch.optim.AdamW(params, lr=req["lr"], betas=tuple(req["betas"]), eps=req["eps"], weight_decay=req["weight_decay"])
    rows, B = req["rows"], req["batch_size"]
    losses, norms = [], []
    for step in range(req["steps"]):
        # Rows in file order, wrapping around at the end (no shuffle).
        ids, labels = batch_of([rows[(step * B + j) % len(rows)] for j in range(B)])
        logits = forward(W, cfg, ids, lora)
        # Causal LM loss as transformers computes it: position t predicts label t + 1; -100 does not count.
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, req["max_grad_norm"])
        opt.step()
        losses.append(loss.item())
        norms.append(float(norm))
    json.dump({"losses": losses, "grad_norms": norms, "adapter": {n: p.detach().reshape(-1).tolist() for n, p in zip(names, params)}}, sys.stdout)

if __name__ == "__main__":
    main()
