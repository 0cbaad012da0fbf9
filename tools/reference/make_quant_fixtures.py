"""Quantization fixtures from the python `gguf` package's numpy quantizers (an
implementation of GGML's Q8_0 / Q4_0 independent of ours), for tests/test_quant.c.

    python3 tools/reference/make_quant_fixtures.py
writes tests/data/quant/input.f32 (4096 floats: normal, uniform, tiny, huge, zeros, ties)
and input.q8_0 / input.q4_0 (the packed blocks), f16.bin (numpy float16) and bf16.bin
(torch bfloat16) of the same floats.
"""
import os
import numpy as np
import gguf
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "quant")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)
parts = [rng.normal(0, 1, 1024), rng.uniform(-3, 3, 1024), rng.normal(0, 1e-3, 512), rng.normal(0, 300, 512),
         np.zeros(256), np.tile(np.array([0.5, -0.5, 1.5, -2.5, 8, -8, 4, 0.25]), 32),
         rng.normal(0, 1, 512) * (rng.uniform(0, 1, 512) < 0.1)]
x = np.concatenate(parts).astype(np.float32)
assert x.size == 4096
x.tofile(os.path.join(OUT, "input.f32"))
for name, qt in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
    np.asarray(gguf.quants.quantize(x.reshape(-1, 32), qt)).tofile(os.path.join(OUT, "input." + name))
x.astype(np.float16).tofile(os.path.join(OUT, "f16.bin"))
torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().tofile(os.path.join(OUT, "bf16.bin"))
print("ok")
