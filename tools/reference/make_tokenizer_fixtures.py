"""Tokenizer fixtures: ids from the sentencepiece library (and the official Hugging Face
BaichuanTokenizer for its special-token handling), for tests/test_tokenizer.c.

    python3 tools/reference/make_tokenizer_fixtures.py

Writes tests/data/tokenizer/:
  corpus.txt            one test string per line, as hex of its UTF-8 (some deliberately invalid)
  baichuan2.ids         ids per line from the REAL Baichuan 2 tokenizer (../shared/vocab)
  baichuan2_hf.ids      ids from the official tokenization_baichuan.py (Hugging Face mode)
  bpe1k.model/.ids, bpe8k.model/.ids   models trained with Baichuan 2's settings
  b1style.model/.ids    a Baichuan 1 style model (dummy prefix on)
Ids lines are "-" for a string the library cannot encode (never the case here).
"""
import glob
import os
import random
import sys
import tempfile

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(__file__))
import make_model_fixtures as mf  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
REAL = os.path.join(ROOT, "..", "shared", "vocab", "baichuan2-tokenizer.model")

HAND = [
    "Hello world", "Hello, World!", "  leading spaces", "trailing spaces   ", "a  b   c    d",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
    "人工智能正在改变世界，大语言模型是其中最重要的技术之一。", "百川智能发布了Baichuan 2系列模型。",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n", "for (i = 0; i < n; i++) { a[i] += b[i] * c; }",
    "12345678901234567890", "3.14159265358979323846", "2024-11-22 12:34:56", "1,000,000.00", "0x7fffffff",
    "\t\t\ttabs", "\n\n\nnewlines", "\r\nwindows\r\nline endings\r\n", " ", "  ", "\t", "\n", "\r", "",
    "😀😃😄😁😆😅😂🤣", "👨‍👩‍👧‍👦 family", "🇨🇳🇺🇸 flags", "❤️ heart", "𠀀𠀁𠀂 rare CJK extension B", "𪚥 𰻞",
    "こんにちは、世界。今日はいい天気ですね。", "カタカナとひらがなと漢字", "안녕하세요 세계", "한국어 텍스트 처리",
    "Привет, мир! Как дела?", "Съешь же ещё этих мягких французских булок", "مرحبا بالعالم", "שלום עולם",
    "नमस्ते दुनिया", "สวัสดีชาวโลก", "Ελληνικά γράμματα", "Ünïcödé àccénts café naïve", "ß ẞ ſ ﬁ ﬂ",
    "</s>", "<s>", "<unk>", "<reserved_106>", "<reserved_107>", "a</s>b", "x <s> y </s> z", "<reserved_106>你好<reserved_107>",
    "</s></s>", "<</s>>", "<reserved_106 >", "<SEP><CLS><img>", "\u2581already escaped\u2581", "\u3000全角空格\u3000",
    "mixed 中文 English 日本語 한국어 العربية", "email@example.com https://example.com/path?q=1&r=2",
    "{\"json\": [1, 2, 3], \"key\": null}", "<html><body><p>Hello</p></body></html>", "$$E=mc^2$$ \\frac{a}{b}",
    "~!@#$%^&*()_+`-=[]\\{}|;':\",./<>?", "…—–‘’“”", "\x00\x01\x02 control chars", "\u200b\u200c\u200d zero width",
    "a" * 300, "中" * 200, " " * 50, "1" * 100, "ab" * 150,
]


def fortune_lines():
    out = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        base = os.path.basename(path)
        if "." in base or os.path.islink(path) or not os.path.isfile(path):
            continue
        text = open(path, encoding="utf-8", errors="ignore").read()
        for e in text.split("\n%\n"):
            e = e.strip("\n%")
            if 5 <= len(e) <= 600 and "\x1b" not in e:
                out.append(e)
    return out


def corpus():
    rnd = random.Random(1234)
    lines = fortune_lines()
    rnd.shuffle(lines)
    texts = [t.encode("utf-8") for t in HAND]
    texts += [t.encode("utf-8") for t in lines[:700]]
    pool = HAND + lines[:200]
    for _ in range(250):  # random mixtures across scripts
        parts = [rnd.choice(pool)[: rnd.randint(1, 40)] for _ in range(rnd.randint(2, 5))]
        sep = rnd.choice(["", " ", "  ", "\n", "\t", " \n "])
        texts.append(sep.join(parts).encode("utf-8"))
    for _ in range(40):  # digits and whitespace runs
        s = "".join(rnd.choice(["0123456789"[rnd.randint(0, 9)] * rnd.randint(1, 12), " " * rnd.randint(1, 8),
                                "\t" * rnd.randint(1, 3), "\n" * rnd.randint(1, 3), "x", "中"]) for _ in range(8))
        texts.append(s.encode("utf-8"))
    invalid = [b"\xff", b"ab\xffc\x80", b"\xc3", b"\xe4\xb8", b"\xf0\x9f\x98", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong",
               b"\xf4\x90\x80\x80 too big", b"ok \xe4\xb8\xad\xe4 ok", b"\x80\x80\x80", b"trail\xe2\x82"]
    texts += invalid
    return texts


def encode_all(sp, texts):
    return [" ".join(map(str, sp.encode(t if isinstance(t, str) else t))) for t in texts]


def valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def train(name, vocab, dummy, texts_for_training):
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "corpus.txt")
    open(path, "w", encoding="utf-8").write("\n".join(texts_for_training))
    spm.SentencePieceTrainer.train(
        input=path, model_prefix=os.path.join(OUT, name), vocab_size=vocab, model_type="bpe",
        normalization_rule_name="identity", add_dummy_prefix=dummy, split_digits=True, byte_fallback=True,
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, max_sentencepiece_length=32,
        character_coverage=0.9995, num_threads=2, minloglevel=2,
        user_defined_symbols=["\n", "\t", "    ", "\u2581\u2581", "\u2581\u2581\u2581\u2581"] + [f"<reserved_{i}>" for i in range(8)])
    os.remove(os.path.join(OUT, name + ".vocab"))
    return spm.SentencePieceProcessor(model_file=os.path.join(OUT, name + ".model"))


def main():
    os.makedirs(OUT, exist_ok=True)
    texts = corpus()
    assert len(texts) >= 1000, len(texts)
    open(os.path.join(OUT, "corpus.txt"), "w").write("\n".join(t.hex() for t in texts) + "\n")
    if os.path.exists(REAL):
        sp = spm.SentencePieceProcessor(model_file=REAL)
        open(os.path.join(OUT, "baichuan2.ids"), "w").write("\n".join(encode_all(sp, texts)) + "\n")
        tok = mf.official_tokenizer(REAL)
        hf = [" ".join(map(str, tok.encode(t.decode("utf-8")))) if valid(t) else "-" for t in texts]
        open(os.path.join(OUT, "baichuan2_hf.ids"), "w").write("\n".join(hf) + "\n")
    train_text = fortune_lines()
    for name, vocab, dummy in (("bpe1k", 1000, False), ("bpe8k", 8000, False), ("b1style", 2000, True)):
        sp = train(name, vocab, dummy, train_text)
        open(os.path.join(OUT, name + ".ids"), "w").write("\n".join(encode_all(sp, texts)) + "\n")
    print(len(texts), "strings")


if __name__ == "__main__":
    main()
