// The adapters of a LoRA model as the PyTorch peers read them (step_torch.py, generate_torch.py):
// {module path: {a: A [r, in] row-major, b: B [out, r], r, scaling}}.
import type { LoraLinear } from "../lib/lora/index.js";

export function adapterJson(lora: { loraLayers(): Map<string, LoraLinear> }): string {
  const adapters: Record<string, { a: number[]; b: number[]; r: number; scaling: number }> = {};
  for (const [path, layer] of lora.loraLayers()) {
    const adapter = layer.adapters.get(layer.activeAdapter!)!;
    adapters[path] = { a: Array.from(adapter.loraA.dataSync()), b: Array.from(adapter.loraB.dataSync()), r: adapter.r, scaling: adapter.scaling };
  }
  return JSON.stringify(adapters);
}
