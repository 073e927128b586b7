# PyTorch reference for the LLaMA tests: Hugging Face LlamaForCausalLM's forward (rotate_half RoPE,
# repeat_kv GQA, RMSNorm in float32, SwiGLU, tied head) on a model.safetensors read with numpy.
# stdin: {"model_dir", "ids": [[...]], "targets": [[...]], "mask": [[...]], "grads": [names],
#         "lora": {module path: {"a": [...flat [r, in]], "b": [...flat [out, r]], "r", "scaling"}} (optional)}
# stdout: {"logits": [...flat], "loss": x, "grads": {name: [...flat]}}; with "lora", gradient names may be
# "<module path>.lora_A.weight" / ".lora_B.weight" (PEFT's names).
import json, math, struct, sys
import numpy as np
import torch

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        b, t = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:t], dtype="<f4").copy().reshape(e["shape"]))
    return out

def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def linear(W, lora, path, x):
    """x W^T for the projection at module path `path`, plus PEFT's (x A^T) B^T * scaling when it has an adapter."""
    y = x @ W[path + ".weight"].T
    if lora and path in lora:
        a, b, scaling = lora[path]
        y = y + (x @ a.T) @ b.T * scaling
    return y

def forward(W, cfg, ids, lora=None):
    """Logits [B, T, V] for ids [B, T] (LongTensor) with weights W keyed by HF parameter name;
    `lora` maps module paths to (A [r, in], B [out, r], scaling)."""
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    K = cfg.get("num_key_value_heads", H)
    D, eps = C // H, cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x = W["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(W, lora, p + "self_attn.q_proj", h).view(B, T, H, D).transpose(1, 2)
        k = linear(W, lora, p + "self_attn.k_proj", h).view(B, T, K, D).transpose(1, 2)
        v = linear(W, lora, p + "self_attn.v_proj", h).view(B, T, K, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // K, dim=1)
        v = v.repeat_interleave(H // K, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + linear(W, lora, p + "self_attn.o_proj", o)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(W, lora, p + "mlp.gate_proj", h)
        u = linear(W, lora, p + "mlp.up_proj", h)
        x = x + linear(W, lora, p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T

def read_lora(spec, W):
    """Adapters {path: {"a", "b", "r", "scaling"}} -> ({path: (A, B, scaling)}, {PEFT parameter name: tensor})."""
    lora, params = {}, {}
    for path, e in (spec or {}).items():
        out_f, in_f = W[path + ".weight"].shape
        a = torch.tensor(e["a"], dtype=torch.float32).reshape(e["r"], in_f)
        b = torch.tensor(e["b"], dtype=torch.float32).reshape(out_f, e["r"])
        lora[path] = (a, b, e["scaling"])
        params[path + ".lora_A.weight"], params[path + ".lora_B.weight"] = a, b
    return lora, params

def main():
    req = json.load(sys.stdin)
    cfg = json.load(open(req["model_dir"] + "/config.json"))
    W = read_safetensors(req["model_dir"] + "/model.safetensors")
    lora, params = read_lora(req.get("lora"), W)
    params.update(W)
    for name in req.get("grads", []):
        params[name].requires_grad_(True)
    ids = torch.tensor(req["ids"], dtype=torch.long)
    logits = forward(W, cfg, ids, lora)
    out = {"logits": logits.detach().reshape(-1).tolist()}
    if "targets" in req:
        targets = torch.tensor(req["targets"], dtype=torch.long).reshape(-1)
        mask = torch.tensor(req["mask"], dtype=torch.float32).reshape(-1)
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, reduction="none")
        loss = (nll * mask).sum() / mask.sum().clamp(min=1)
        out["loss"] = loss.item()
        if req.get("grads"):
            loss.backward()
            out["grads"] = {n: params[n].grad.reshape(-1).tolist() for n in req["grads"]}
    json.dump(out, sys.stdout)

if __name__ == "__main__":
    main()
