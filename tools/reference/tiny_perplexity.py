"""Reference perplexity of the bundled tiny model (examples/tiny) with the OFFICIAL code, in
float32, on examples/tiny/heldout.txt: the official tokenizer (no BOS), non-overlapping
windows of the model's context (256 tokens), every token scored except each window's first
-- exactly what `build/baichuan --perplexity FILE` computes. Also the same model with every
2-D weight through a q8_0 / q4_0 round trip (gguf package quantizers; head normalised first).

    python3 tools/reference/tiny_perplexity.py   -> examples/tiny/reference_perplexity.txt
"""
import math, os, shutil, sys, tempfile
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_model_fixtures as mf  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TINY = os.path.join(ROOT, "examples", "tiny")


def ppl(model, ids, n_ctx):
    nll, count = 0.0, 0
    with torch.no_grad():
        for w in range(0, len(ids), n_ctx):
            win = ids[w:w + n_ctx]
            if len(win) < 2:
                continue
            logp = torch.log_softmax(model(input_ids=torch.tensor([win])).logits[0].double(), -1)
            nll -= sum(float(logp[i, win[i + 1]]) for i in range(len(win) - 1))
            count += len(win) - 1
    return math.exp(nll / count), count


def main():
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    modeling, configuration = mf.official_package(tmp, "off7b_tiny", mf.MIRROR7)[:2]
    import json
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    for k in ["architectures", "auto_map", "torch_dtype", "model_type"]:
        cfg.pop(k, None)
    model = modeling.BaichuanForCausalLM(configuration.BaichuanConfig(**cfg)).float().eval()
    model.load_state_dict(torch.load(os.path.join(TINY, "pytorch_model.bin")))
    tok = mf.official_tokenizer(os.path.join(TINY, "tokenizer.model"))
    ids = tok.encode(open(os.path.join(TINY, "heldout.txt"), encoding="utf-8").read())
    n_ctx = cfg["max_position_embeddings"]
    import gguf
    lines = []
    p, count = ppl(model, ids, n_ctx)
    lines.append(f"f32 {p:.8g}")
    for name, qt in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
        lines.append(f"{name} {ppl(mf.quantized_copy(model, qt), ids, n_ctx)[0]:.8g}")
    lines.append(f"# {count} tokens scored in windows of {n_ctx}; torch {torch.__version__}; official modeling_baichuan.py (7B)")
    open(os.path.join(TINY, "reference_perplexity.txt"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
