"""Expected GGUF tensors for the fixture checkpoints, computed with torch/numpy from the
checkpoint files (independently of tools/convert.c): W_pack split into q/k/v, q and k rows
permuted as llama.cpp's converter does, lm_head rows L2-normalised (F.normalize).

    python3 tools/reference/make_convert_expected.py
writes tests/data/convert/<model>.txt: per GGUF tensor, its shape, float64 sum and sum of
squares, and 48 values at fixed flat indices (exact float32, as hex bits)."""
import glob, json, os, struct
import numpy as np
import torch
from safetensors.torch import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "convert")


def load(d):
    sd = {}
    for f in sorted(glob.glob(os.path.join(d, "*.bin"))):
        sd.update(torch.load(f, map_location="cpu"))
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        sd.update(load_file(f))
    return {k: v.float().numpy() for k, v in sd.items()}


def permute(w, n_head):  # llama.cpp: reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def expected(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    sd = load(d)
    out = {"token_embd.weight": sd["model.embed_tokens.weight"]}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        wp = sd[p + "self_attn.W_pack.weight"]
        out[f"blk.{l}.attn_norm.weight"] = sd[p + "input_layernorm.weight"]
        out[f"blk.{l}.attn_q.weight"] = permute(wp[:h], nh)
        out[f"blk.{l}.attn_k.weight"] = permute(wp[h:2 * h], nh)
        out[f"blk.{l}.attn_v.weight"] = wp[2 * h:]
        out[f"blk.{l}.attn_output.weight"] = sd[p + "self_attn.o_proj.weight"]
        out[f"blk.{l}.ffn_norm.weight"] = sd[p + "post_attention_layernorm.weight"]
        out[f"blk.{l}.ffn_gate.weight"] = sd[p + "mlp.gate_proj.weight"]
        out[f"blk.{l}.ffn_up.weight"] = sd[p + "mlp.up_proj.weight"]
        out[f"blk.{l}.ffn_down.weight"] = sd[p + "mlp.down_proj.weight"]
    out["output_norm.weight"] = sd["model.norm.weight"]
    lm = sd["lm_head.weight"].astype(np.float64)
    out["output.weight"] = (lm / np.maximum(np.linalg.norm(lm, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return out


os.makedirs(OUT, exist_ok=True)
for name in ["b7-s2", "b13-s2", "b7-q", "b13-q", "b7-s2-bf16"]:
    lines = []
    for tname, w in expected(os.path.join(ROOT, "tests", "data", name)).items():
        flat = w.astype(np.float32).ravel()
        idx = np.unique(np.linspace(0, flat.size - 1, 48).astype(np.int64))
        vals = " ".join(f"{i}:{struct.unpack('<I', struct.pack('<f', float(flat[i])))[0]:08x}" for i in idx)
        lines.append(f"{tname} {' '.join(str(s) for s in w.shape)} | {flat.astype(np.float64).sum():.17g} "
                     f"{(flat.astype(np.float64) ** 2).sum():.17g} | {vals}")
    open(os.path.join(OUT, name + ".txt"), "w").write("\n".join(lines) + "\n")
print("ok")
