"""Trains the tiny bundled Baichuan 2 model (examples/tiny) with the OFFICIAL 7B code.

Data: Debian's `fortunes` (English) and `fortunes-zh` (Tang and Song poems), entries split
on '%' lines, 5% of entries held out (examples/tiny/heldout.txt). Tokenizer: SentencePiece
BPE with Baichuan 2's settings. Model: modeling_baichuan.py (RoPE, W_pack, NormHead) at
hidden 192, 3 layers, 6 heads, ffn 512, vocab 4096, context 256; float32 weights (~11.6 MB).

    apt-get install fortunes fortunes-zh
    nice -n 10 python3 tools/reference/train_tiny.py [--minutes 35]

Writes a checkpoint every few minutes, so a stopped run still leaves a usable model.
"""
import argparse
import glob
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_model_fixtures as mf  # noqa: E402  (official code loader)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "examples", "tiny")
ZH = ["tang300", "song100", "chinese"]


def entries():
    out = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        base = os.path.basename(path)
        if "." in base or os.path.islink(path) or not os.path.isfile(path):
            continue
        text = open(path, encoding="utf-8", errors="ignore").read()
        if base not in ZH and sum(ord(c) > 127 for c in text) > 0.001 * len(text):
            continue  # other non-English collections
        for e in text.split("\n%\n"):
            e = e.strip("\n%")
            if 20 <= len(e) <= 2000 and "\x1b" not in e:
                out.append(e + "\n")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=35)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    data = entries()
    random.shuffle(data)
    n_held = len(data) // 20
    held, train = data[:n_held], data[n_held:]
    open(os.path.join(OUT, "heldout.txt"), "w", encoding="utf-8").write("".join(held)[:40000])
    tmp = tempfile.mkdtemp()
    corpus = os.path.join(tmp, "train.txt")
    open(corpus, "w", encoding="utf-8").write("".join(train))
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(tmp, "tokenizer"), vocab_size=4096, model_type="bpe",
        normalization_rule_name="identity", add_dummy_prefix=False, split_digits=True, byte_fallback=True,
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, max_sentencepiece_length=32,
        character_coverage=0.9995, user_defined_symbols=["<reserved_0>", "<reserved_1>", "<reserved_2>", "<reserved_3>"],
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=args.threads, minloglevel=2)
    shutil.copy(os.path.join(tmp, "tokenizer.model"), os.path.join(OUT, "tokenizer.model"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "tokenizer.model"))
    user_id, assistant_id = sp.piece_to_id("<reserved_0>"), sp.piece_to_id("<reserved_1>")
    ids = []
    for e in train:
        ids.extend(sp.encode(e) + [2])
    print(f"{len(train)} training entries, {len(ids)} tokens; {len(held)} held out", flush=True)

    mods = mf.official_package(tmp, "off7b_train", mf.MIRROR7)
    modeling, configuration = mods[0], mods[1]
    config = configuration.BaichuanConfig(vocab_size=4096, hidden_size=192, intermediate_size=512, num_hidden_layers=3,
                                          num_attention_heads=6, max_position_embeddings=256, model_max_length=256,
                                          rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                          tie_word_embeddings=False)
    model = modeling.BaichuanForCausalLM(config).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    seq, batch = 128, 24
    data_t = torch.tensor(ids, dtype=torch.long)
    start = time.time()
    budget = args.minutes * 60
    step, last_save = 0, start

    def save():
        sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        torch.save(sd, os.path.join(OUT, "pytorch_model.bin.tmp"))
        os.replace(os.path.join(OUT, "pytorch_model.bin.tmp"), os.path.join(OUT, "pytorch_model.bin"))
        cfg = config.to_dict()
        for k in ["_name_or_path", "transformers_version", "_commit_hash"]:
            cfg.pop(k, None)
        cfg["architectures"] = ["BaichuanForCausalLM"]
        cfg["auto_map"] = {"AutoConfig": "configuration_baichuan.BaichuanConfig",
                           "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM"}
        cfg["torch_dtype"] = "float32"
        json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2, sort_keys=True)
        json.dump({"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "user_token_id": user_id,
                   "assistant_token_id": assistant_id, "max_new_tokens": 128, "temperature": 0.3, "top_k": 5,
                   "top_p": 0.85, "repetition_penalty": 1.05, "do_sample": True},
                  open(os.path.join(OUT, "generation_config.json"), "w"), indent=2)
        shutil.copy(os.path.join(ROOT, "tests", "data", "tok512", "tokenizer_config.json"), os.path.join(OUT, "tokenizer_config.json"))

    total_steps_guess = 1500
    while time.time() - start < budget:
        lr = 3e-3 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total_steps_guess))))
        for g in opt.param_groups:
            g["lr"] = lr
        ix = torch.randint(0, len(data_t) - seq - 1, (batch,))
        x = torch.stack([data_t[i:i + seq] for i in ix])
        out = model(input_ids=x, labels=x)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {out.loss.item():.3f} lr {lr:.5f} {time.time() - start:.0f}s", flush=True)
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
        step += 1
    save()
    print(f"done: {step} steps in {time.time() - start:.0f}s", flush=True)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
