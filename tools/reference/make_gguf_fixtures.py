"""Facts about llama.cpp-written GGUF vocab files, as the python `gguf` package reads them.

Writes tests/data/gguf/vocab_facts.txt, which tests/test_gguf.c compares with our reader.
Run from the repository root: python3 tools/reference/make_gguf_fixtures.py
"""
import gguf

FILES = ["../shared/vocab/ggml-vocab-llama-spm.gguf", "../shared/vocab/ggml-vocab-baichuan.gguf"]
out = []
for path in FILES:
    r = gguf.GGUFReader(path)
    out.append(f"file {path}")
    fields = {k: v for k, v in r.fields.items() if not k.startswith("GGUF.")}
    out.append(f"count kv {len(fields)}")
    out.append(f"count tensors {len(r.tensors)}")
    for name, f in fields.items():
        t = f.types[0]
        if t == gguf.GGUFValueType.UINT32:
            out.append(f"u32 {name} {int(f.parts[f.data[0]][0])}")
        elif t == gguf.GGUFValueType.STRING:
            s = bytes(f.parts[f.data[0]]).decode("utf-8")
            if "\n" not in s and s.strip() == s and s:
                out.append(f"str {name} {s}")
        elif t == gguf.GGUFValueType.ARRAY:
            out.append(f"arrlen {name} {len(f.data)}")
    toks = r.fields["tokenizer.ggml.tokens"]
    n = len(toks.data)
    for i in [0, 1, 2, 3, 100, 259, 300, 1000, n // 2, n - 1]:
        b = bytes(toks.parts[toks.data[i]])
        out.append(f"tok tokenizer.ggml.tokens {i} {b.hex()}")
open("tests/data/gguf/vocab_facts.txt", "w").write("\n".join(out) + "\n")
print(len(out), "facts")
