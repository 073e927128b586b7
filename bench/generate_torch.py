# PyTorch side of bench/generate.ts: greedy decoding with a KV cache of the same LLaMA weights (the
# safetensors file generate.ts wrote) and the same adapters, once with each adapter separate (PEFT's
# unmerged forward) and once merged into the weights (merge_and_unload). Prints one JSON line:
# {"torch", "threads", "separate": {"tokens_per_second", "ids"}, "merged": {...}}.
# Usage: generate_torch.py MODEL_DIR LORA_JSON PROMPT_JSON NEW_TOKENS [--threads N]
import argparse, json, math, os, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib", "model"))
from llama_reference import linear, read_lora, read_safetensors, rms_norm, rotate_half

def decode_step(W, cfg, lora, ids, cache, start):
    """Logits [1, V] of the last of `ids` [1, T] at positions start..start+T-1; appends to cache[l] = (k, v)."""
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    K = cfg.get("num_key_value_heads", H)
    D, eps = C // H, cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    freqs = torch.arange(start, start + T).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x = W["model.embed_tokens.weight"][ids]
    mask = torch.full((T, start + T), float("-inf")).triu(start + 1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(W, lora, p + "self_attn.q_proj", h).view(B, T, H, D).transpose(1, 2)
        k = linear(W, lora, p + "self_attn.k_proj", h).view(B, T, K, D).transpose(1, 2)
        v = linear(W, lora, p + "self_attn.v_proj", h).view(B, T, K, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if l in cache:
            k = torch.cat((cache[l][0], k), dim=2)
            v = torch.cat((cache[l][1], v), dim=2)
        cache[l] = (k, v)
        k = k.repeat_interleave(H // K, dim=1)
        v = v.repeat_interleave(H // K, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + linear(W, lora, p + "self_attn.o_proj", o)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(W, lora, p + "mlp.gate_proj", h)
        u = linear(W, lora, p + "mlp.up_proj", h)
        x = x + linear(W, lora, p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms_norm(x[:, -1], W["model.norm.weight"], eps)
    return x @ W.get("lm_head.weight", W["model.embed_tokens.weight"]).T

def greedy(W, cfg, lora, prompt, new_tokens):
    """New ids and tokens/s (prefill included, as generate.ts measures it)."""
    start = time.perf_counter()
    cache, ids, position = {}, torch.tensor([prompt]), 0
    out = []
    for _ in range(new_tokens):
        logits = decode_step(W, cfg, lora, ids, cache, position)
        position += ids.shape[1]
        token = int(logits.argmax(-1))
        out.append(token)
        ids = torch.tensor([[token]])
    return out, new_tokens / (time.perf_counter() - start)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("lora")
    parser.add_argument("prompt")
    parser.add_argument("new_tokens", type=int)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.model_dir, "config.json")))
    W = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    lora, _ = read_lora(json.load(open(args.lora)), W)
    prompt = json.load(open(args.prompt))
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with torch.no_grad():
        greedy(W, cfg, lora, prompt, 2)  # warm up
        ids, speed = greedy(W, cfg, lora, prompt, args.new_tokens)
        result["separate"] = {"tokens_per_second": speed, "ids": ids}
        merged = dict(W)
        for path, (a, b, scaling) in lora.items():
            merged[path + ".weight"] = W[path + ".weight"] + scaling * (b @ a)
        greedy(merged, cfg, None, prompt, 2)
        ids, speed = greedy(merged, cfg, None, prompt, args.new_tokens)
        result["merged"] = {"tokens_per_second": speed, "ids": ids}
    print(json.dumps(result))

main()
