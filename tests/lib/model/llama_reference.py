# PyTorch reference for the LLaMA tests: Hugging Face LlamaForCausalLM's forward (rotate_half RoPE,
# repeat_kv GQA, RMSNorm in float32, SwiGLU, tied head) on a model.safetensors read with numpy.
# stdin: {"model_dir", "ids": [[...]], "targets": [[...]], "mask": [[...]], "grads": [names]}
# stdout: {"logits": [...flat], "loss": x, "grads": {name: [...flat]}}
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

def forward(W, cfg, ids):
    """Logits [B, T, V] for ids [B, T] (LongTensor) with weights W keyed by HF parameter name."""
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
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(B, T, K, D).transpose(1, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(B, T, K, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // K, dim=1)
        v = v.repeat_interleave(H // K, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T

def main():
    req = json.load(sys.stdin)
    cfg = json.load(open(req["model_dir"] + "/config.json"))
    W = read_safetensors(req["model_dir"] + "/model.safetensors")
    for name in req.get("grads", []):
        W[name].requires_grad_(True)
    ids = torch.tensor(req["ids"], dtype=torch.long)
    logits = forward(W, cfg, ids)
    out = {"logits": logits.detach().reshape(-1).tolist()}
    if "targets" in req:
        targets = torch.tensor(req["targets"], dtype=torch.long).reshape(-1)
        mask = torch.tensor(req["mask"], dtype=torch.float32).reshape(-1)
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, reduction="none")
        loss = (nll * mask).sum() / mask.sum().clamp(min=1)
        out["loss"] = loss.item()
        if req.get("grads"):
            loss.backward()
            out["grads"] = {n: W[n].grad.reshape(-1).tolist() for n in req["grads"]}
    json.dump(out, sys.stdout)

if __name__ == "__main__":
    main()
