# PEFT's PiSSA and LoftQ formulas in PyTorch (peft/tuners/lora/layer.py pissa_init and
# peft/utils/loftq_utils.py _low_rank_decomposition), written from their documented math; PEFT itself
# is not a test dependency. Reads one JSON request on stdin, writes one JSON answer.
import json
import sys

import torch

request = json.load(sys.stdin)
out_f, in_f, r = request["out"], request["in"], request["r"]
weight = torch.tensor(request["weight"], dtype=torch.float32).reshape(out_f, in_f)
answer = {}

if "scaling" in request:
    scaling = request["scaling"]
    V, S, Uh = torch.linalg.svd(weight, full_matrices=False)
    Sr = S[:r] / scaling
    lora_A = torch.diag(torch.sqrt(Sr)) @ Uh[:r]
    lora_B = V[:, :r] @ torch.diag(torch.sqrt(Sr))
    residual = weight - scaling * lora_B @ lora_A
    answer.update(s=S.tolist(), a=lora_A.flatten().tolist(), b=lora_B.flatten().tolist(), residual=residual.flatten().tolist())

if "dequantized" in request:
    deq = torch.tensor(request["dequantized"], dtype=torch.float32).reshape(out_f, in_f)
    U, S, Vh = torch.linalg.svd(weight - deq, full_matrices=False)
    L = U @ torch.sqrt(torch.diag(S)[:, :r])
    R = torch.sqrt(torch.diag(S)[:r, :]) @ Vh
    answer.update(loftq_product=(L @ R).flatten().tolist())

json.dump(answer, sys.stdout)
