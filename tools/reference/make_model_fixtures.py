"""Reference fixtures from the OFFICIAL Baichuan 2 PyTorch code (never committed here).

Makes tiny checkpoints in every weight format the converter reads, and the official
model's outputs on them, into tests/data/ (see tests/data/README.md):

  python3 tools/reference/make_model_fixtures.py

Needs torch >= 2.0, transformers==4.33.2, sentencepiece, safetensors, gguf (for the
q8_0/q4_0 round trip, an implementation independent of ours), the official code in the
git mirrors below, and the real tokenizer in ../shared/vocab for the chat cases.
"""
import glob
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
MIRROR7 = ("/work/.mirror/mlpod+Baichuan2-CPU-DEBUG/repo", "model/")
MIRROR13 = ("/work/.mirror/jrd77+Baichuan2-13B-Chat/repo", "")
OFFICIAL_FILES = ["modeling_baichuan.py", "configuration_baichuan.py", "generation_utils.py",
                  "tokenization_baichuan.py"]
REAL_TOKENIZER = os.path.join(ROOT, "..", "shared", "vocab", "baichuan2-tokenizer.model")


def official_package(tmp, name, mirror):
    """Copies the official files into a temporary package and imports it."""
    repo, prefix = mirror
    pkg = os.path.join(tmp, name)
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    for f in OFFICIAL_FILES:
        src = subprocess.check_output(["git", "-C", repo, "show", f"HEAD:{prefix}{f}"])
        open(os.path.join(pkg, f), "wb").write(src)
    if tmp not in sys.path:
        sys.path.insert(0, tmp)
    return (importlib.import_module(f"{name}.modeling_baichuan"),
            importlib.import_module(f"{name}.configuration_baichuan"),
            importlib.import_module(f"{name}.tokenization_baichuan"),
            importlib.import_module(f"{name}.generation_utils"))


def train_tokenizer(out_dir):
    import sentencepiece as spm
    text = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):  # English: Chinese falls back to bytes
        if os.path.isfile(path) and "." not in os.path.basename(path) and not os.path.islink(path):
            t = open(path, encoding="utf-8", errors="ignore").read()
            if sum(ord(c) > 127 for c in t) < 0.001 * len(t):  # English only: CJK falls back to bytes
                text.append(t)
    corpus = os.path.join(out_dir, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(t.replace("%\n", "\n") for t in text))
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out_dir, "tokenizer"), vocab_size=512,
        model_type="bpe", normalization_rule_name="identity", add_dummy_prefix=False,
        split_digits=True, byte_fallback=True, remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True, max_sentencepiece_length=32, character_coverage=0.9995,
        user_defined_symbols=["<reserved_0>", "<reserved_1>", "<reserved_2>", "<reserved_3>"],
        input_sentence_size=200000, shuffle_input_sentence=False, num_threads=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    os.remove(corpus)
    os.remove(os.path.join(out_dir, "tokenizer.vocab"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "tokenizer.model"))
    assert sp.get_piece_size() == 512
    return sp.piece_to_id("<reserved_0>"), sp.piece_to_id("<reserved_1>")


SPECS = {
    # name: (variant, std, hidden, heads, ffn, weight format)
    "b7-s2": ("7b", 0.2, 64, 4, 160, "bin"),
    "b13-s2": ("13b", 0.2, 80, 5, 208, "bin-sharded"),
    "b7-q": ("7b", 0.02, 128, 4, 352, "safetensors"),
    "b13-q": ("13b", 0.02, 160, 5, 416, "safetensors-sharded-bf16"),
}


def make_model(mods, variant, std, hidden, heads, ffn, seed):
    modeling, configuration = mods[0], mods[1]
    kw = dict(vocab_size=512, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=2,
              num_attention_heads=heads, rms_norm_eps=1e-6, model_max_length=512,
              bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    if variant == "7b":
        kw["max_position_embeddings"] = 512
    config = configuration.BaichuanConfig(**kw)
    config.auto_map = {"AutoConfig": "configuration_baichuan.BaichuanConfig",
                       "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM"}
    config.tokenizer_class = "BaichuanTokenizer"
    torch.manual_seed(seed)
    model = modeling.BaichuanForCausalLM(config).float().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norm weights around 1 so they matter
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))
    return model


def save_checkpoint(model, out, fmt, user_id, assistant_id, tok_dir):
    os.makedirs(out, exist_ok=True)
    for f in glob.glob(os.path.join(out, "*")):
        os.remove(f)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if fmt.endswith("bf16"):
        sd = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    shard = "sharded" in fmt
    if fmt.startswith("bin"):
        if not shard:
            torch.save(sd, os.path.join(out, "pytorch_model.bin"))
        else:
            keys = list(sd)
            halves = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
            index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())}, "weight_map": {}}
            for i, part in enumerate(halves):
                fn = f"pytorch_model-{i + 1:05d}-of-00002.bin"
                torch.save({k: sd[k] for k in part}, os.path.join(out, fn))
                index["weight_map"].update({k: fn for k in part})
            json.dump(index, open(os.path.join(out, "pytorch_model.bin.index.json"), "w"), indent=2)
    else:
        from safetensors.torch import save_file
        if not shard:
            save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
        else:
            keys = list(sd)
            halves = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
            index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())}, "weight_map": {}}
            for i, part in enumerate(halves):
                fn = f"model-{i + 1:05d}-of-00002.safetensors"
                save_file({k: sd[k] for k in part}, os.path.join(out, fn), metadata={"format": "pt"})
                index["weight_map"].update({k: fn for k in part})
            json.dump(index, open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
    cfg = model.config.to_dict()
    for k in ["_name_or_path", "transformers_version", "torch_dtype", "_commit_hash"]:
        cfg.pop(k, None)
    cfg["architectures"] = ["BaichuanForCausalLM"]
    cfg["torch_dtype"] = "bfloat16" if fmt.endswith("bf16") else "float32"
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2, sort_keys=True)
    json.dump({"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "user_token_id": user_id,
               "assistant_token_id": assistant_id, "max_new_tokens": 64, "temperature": 0.3,
               "top_k": 5, "top_p": 0.85, "repetition_penalty": 1.05, "do_sample": True},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    shutil.copy(os.path.join(tok_dir, "tokenizer.model"), out)
    shutil.copy(os.path.join(tok_dir, "tokenizer_config.json"), out)


def load_weights_back(model, fmt):
    """The reference runs on exactly the stored weights (bf16 upcast to f32)."""
    if fmt.endswith("bf16"):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).float())


def write_f32(path, arr):
    np.asarray(arr, dtype="<f4").tofile(path)


def write_ids(path, ids):
    open(path, "w").write(" ".join(str(int(i)) for i in ids) + "\n")


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


def greedy(model, prompt, n_new):
    """The official incremental decoding: the prompt, then one token at a time with the cache."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        past, ids = out.past_key_values, []
        for _ in range(n_new):
            nxt = int(torch.argmax(out.logits[0, -1]))
            ids.append(nxt)
            out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
    return ids


def roundtrip(w, qtype):
    import gguf
    q = gguf.quants.quantize(w.astype(np.float32), qtype)
    return gguf.quants.dequantize(q, qtype).reshape(w.shape)


def quantized_copy(model, qtype):
    """Every 2-D weight through a quantize->dequantize round trip along its rows; the head is
    normalised first, as our converter writes it."""
    import copy
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() != 2:
                continue
            w = p.detach().float()
            if name == "lm_head.weight":
                w = F.normalize(w, dim=-1, eps=1e-12)
            p.copy_(torch.from_numpy(roundtrip(w.numpy(), qtype)))
    return m


def perplexity(model, ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    nll = -sum(float(logp[i, ids[i + 1]]) for i in range(len(ids) - 1)) / (len(ids) - 1)
    return math.exp(nll)


PPL_TEXT = ("The sea is calm tonight.\nThe tide is full, the moon lies fair\nUpon the straits; "
            "on the French coast the light\nGleams and is gone; the cliffs of England stand,\n"
            "Glimmering and vast, out in the tranquil bay.\n床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
            "Numbers 12345 and    spaces\tand tabs.\n")


def official_tokenizer(model_file, mirror=None):
    """The official tokenizer as users get it: AutoTokenizer.from_pretrained on a folder with
    the official tokenization_baichuan.py, tokenizer_config.json and special_tokens_map.json
    (which makes it split </s>, <s> and <unk> literals out of the text)."""
    from transformers import AutoTokenizer
    repo, prefix = mirror or MIRROR13
    d = tempfile.mkdtemp()
    shutil.copy(model_file, os.path.join(d, "tokenizer.model"))
    for f in ["tokenization_baichuan.py", "tokenizer_config.json", "special_tokens_map.json"]:
        open(os.path.join(d, f), "wb").write(subprocess.check_output(["git", "-C", repo, "show", f"HEAD:{prefix}{f}"]))
    return AutoTokenizer.from_pretrained(d, trust_remote_code=True)


def chat_cases(tok_mod, gen_mod):
    tok = official_tokenizer(REAL_TOKENIZER)

    class Stub:
        pass

    long_en = "Tell me about the history of the printing press and its effect on Europe. " * 3
    long_zh = "请详细介绍一下中国古代四大发明以及它们对世界的影响。" * 3
    convs = [
        [{"role": "user", "content": "你好"}],
        [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello!"}],
        [{"role": "user", "content": "解释一下牛顿第一定律"}, {"role": "assistant", "content": "物体在不受外力时保持静止或匀速直线运动。"},
         {"role": "user", "content": "举个例子"}],
        [{"role": "system", "content": "你是百川大模型。"}, {"role": "user", "content": "写一首诗"},
         {"role": "assistant", "content": "春眠不觉晓，处处闻啼鸟。"}],
        [{"role": "user", "content": long_en}, {"role": "assistant", "content": long_zh},
         {"role": "user", "content": long_zh}, {"role": "assistant", "content": long_en},
         {"role": "user", "content": "And now in one sentence?"}],
        [{"role": "system", "content": "Be brief. " * 10}, {"role": "user", "content": long_en},
         {"role": "assistant", "content": "OK."}, {"role": "user", "content": long_zh}],
        [{"role": "user", "content": long_en * 3}],
        [{"role": "user", "content": "code:\n    def f(x):\n\treturn x  </s> <reserved_106>"},
         {"role": "assistant", "content": "Fine 😀 12345"}, {"role": "user", "content": "Привет, مرحبا, こんにちは"}],
    ]
    settings = [(2048, 4096), (4000, 4096), (4030, 4096), (0, 4096)]
    lines = []
    for ci, msgs in enumerate(convs):
        for max_new, max_len in settings:
            stub = Stub()
            stub.config = Stub()
            stub.device = "cpu"
            stub.config.model_max_length = max_len
            stub.generation_config = Stub()
            stub.generation_config.max_new_tokens = 2048
            stub.generation_config.user_token_id = 195
            stub.generation_config.assistant_token_id = 196
            ids = gen_mod.build_chat_input(stub, tok, msgs, max_new)[0].tolist()
            eff_new = max_new or 2048
            lines.append(f"case {eff_new} {max_len}")
            for m in msgs:
                lines.append(f"msg {m['role']} {m['content'].encode('utf-8').hex()}")
            lines.append("ids " + " ".join(map(str, ids)))
            lines.append("end")
    os.makedirs(os.path.join(DATA, "chat"), exist_ok=True)
    open(os.path.join(DATA, "chat", "chat_cases.txt"), "w").write("\n".join(lines) + "\n")


def main():
    import gguf
    tmp = tempfile.mkdtemp(prefix="bc_official_")
    mods = {"7b": official_package(tmp, "off7b", MIRROR7), "13b": official_package(tmp, "off13b", MIRROR13)}
    tok_dir = os.path.join(DATA, "tok512")
    os.makedirs(tok_dir, exist_ok=True)
    user_id, assistant_id = train_tokenizer(tok_dir)
    json.dump({"add_bos_token": False, "add_eos_token": False, "auto_map": {"AutoTokenizer": ["tokenization_baichuan.BaichuanTokenizer", None]},
               "bos_token": "<s>", "clean_up_tokenization_spaces": False, "eos_token": "</s>", "model_max_length": 512,
               "pad_token": "<unk>", "sp_model_kwargs": {}, "tokenizer_class": "BaichuanTokenizer", "unk_token": "<unk>",
               "use_fast": False}, open(os.path.join(tok_dir, "tokenizer_config.json"), "w"), indent=2)
    rng = np.random.default_rng(1234)
    seqs = {n: [int(x) for x in rng.integers(3, 512, n)] for n in (1, 17, 120)}
    for seed, (name, (variant, std, hidden, heads, ffn, fmt)) in enumerate(SPECS.items()):
        model = make_model(mods[variant], variant, std, hidden, heads, ffn, 100 + seed)
        out = os.path.join(DATA, name)
        save_checkpoint(model, out, fmt, user_id, assistant_id, tok_dir)
        if name == "b7-s2":
            save_checkpoint(model, os.path.join(DATA, "b7-s2-bf16"), "bin-bf16", user_id, assistant_id, tok_dir)
        load_weights_back(model, fmt)
        for n, ids in seqs.items():
            write_ids(os.path.join(out, f"tokens_len{n}.txt"), ids)
            write_f32(os.path.join(out, f"logits_len{n}.f32"), logits_of(model, ids))
        if name.endswith("-q"):
            for qname, qt in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
                qm = quantized_copy(model, qt)
                for n in (17, 120):
                    write_f32(os.path.join(out, f"logits_len{n}.{qname}.f32"), logits_of(qm, seqs[n]))
        for pname, prompt in (("p1", seqs[1]), ("p17", seqs[17])):
            ids = greedy(model, prompt, 40)
            open(os.path.join(out, f"greedy_{pname}.txt"), "w").write(
                " ".join(map(str, prompt)) + "\n" + " ".join(map(str, ids)) + "\n")
        if name.endswith("-s2"):
            tok = official_tokenizer(os.path.join(tok_dir, "tokenizer.model"))
            ids = tok.encode(PPL_TEXT)
            assert len(ids) < 400, len(ids)
            open(os.path.join(out, "ppl.txt"), "w", encoding="utf-8").write(PPL_TEXT)
            open(os.path.join(out, "ppl_expected.txt"), "w").write(
                " ".join(map(str, ids)) + "\n" + f"{perplexity(model, ids):.8g}\n")
        print(name, "done", flush=True)
    if os.path.exists(REAL_TOKENIZER):
        chat_cases(mods["13b"][2], mods["13b"][3])
        print("chat done")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
