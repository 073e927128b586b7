# PyTorch's own float32 -> bfloat16 / float16 conversion of the float32 bit patterns given on stdin
# (little-endian uint32s); writes the bfloat16 bits then the float16 bits (little-endian uint16s).
# NaN inputs are converted one at a time as 0-dim tensors: PyTorch 1.13's vectorized bfloat16 path
# writes 0xFFFF for NaN, its scalar c10::BFloat16 path the canonical 0x7FC0 (newer releases agree on it).
import sys
import torch

raw = sys.stdin.buffer.read()
x = torch.frombuffer(bytearray(raw), dtype=torch.int32).view(torch.float32)
bf = x.to(torch.bfloat16).view(torch.int16).clone()
hf = x.to(torch.float16).view(torch.int16).clone()
for i in torch.nonzero(torch.isnan(x)).flatten().tolist():
    bf[i] = x[i].clone().reshape(()).to(torch.bfloat16).view(torch.int16)
    hf[i] = x[i].clone().reshape(()).to(torch.float16).view(torch.int16)
sys.stdout.buffer.write(bf.numpy().tobytes() + hf.numpy().tobytes())
