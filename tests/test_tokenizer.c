/* Tokenizer parity with the sentencepiece library (ids made by
   tools/reference/make_tokenizer_fixtures.py) on the real Baichuan 2 vocabulary and on
   models trained with its settings, the official Hugging Face tokenizer's special-token
   handling, LLaMA's published test vectors, round trips, and streaming decode. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

#define MAXS 1200
static unsigned char *texts[MAXS];
static size_t lens[MAXS];
static int n_texts;

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static void load_corpus(void) {
    size_t n;
    char *s = (char *)bct_read_file("tests/data/tokenizer/corpus.txt", &n), *line, *next;
    if (!s) return;
    for (line = s; *line && n_texts < MAXS; line = next) {
        size_t k, m;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        else next = line + strlen(line);
        m = strlen(line) / 2;
        texts[n_texts] = (unsigned char *)malloc(m + 1);
        for (k = 0; k < m; k++) texts[n_texts][k] = (unsigned char)(hexval(line[2 * k]) << 4 | hexval(line[2 * k + 1]));
        lens[n_texts++] = m;
    }
    free(s);
}

static bc_tokenizer *from_model_file(const char *path) {
    size_t n;
    unsigned char *buf = bct_read_file(path, &n);
    bc_spm_model m;
    bc_tokenizer *t = NULL;
    bc_error err;
    if (!buf) return NULL;
    if (bc_spm_parse(&m, buf, n, &err) != BC_OK || bc_tokenizer_from_spm(&t, &m, &err) != BC_OK) CHECK(0, "%s: %s", path, err.message);
    bc_spm_free(&m);
    free(buf);
    return t;
}

static bc_tokenizer *from_gguf_file(const char *path) {
    bc_gguf g;
    bc_tokenizer *t = NULL;
    bc_error err;
    if (bc_gguf_open_file(&g, path, &err) != BC_OK) return NULL;
    if (bc_tokenizer_from_gguf(&t, &g, &err) != BC_OK) CHECK(0, "%s: %s", path, err.message);
    bc_gguf_close(&g);
    return t;
}

static int parse_line_ids(const char *line, int32_t *ids, int cap) {
    int k = 0;
    while (*line && k < cap) {
        char *end;
        long v = strtol(line, &end, 10);
        if (end == line) break;
        ids[k++] = (int32_t)v;
        line = end;
    }
    return k;
}

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int m = bc__utf8_len(s + i, n - i);
        if (!m) return 0;
        i += (size_t)m;
    }
    return 1;
}

static int contains(const unsigned char *s, size_t n, const char *needle) {
    size_t k = strlen(needle), i;
    for (i = 0; i + k <= n; i++) if (!memcmp(s + i, needle, k)) return 1;
    return 0;
}

/* Every corpus string encodes to exactly the library's ids. */
static void check_ids(const bc_tokenizer *t, const char *ids_path, bc_special_mode mode, const char *what) {
    size_t n;
    char *s = (char *)bct_read_file(ids_path, &n), *line, *next;
    static int32_t want[20000], got[20000];
    int i = 0, bad = 0, compared = 0;
    bc_error err;
    if (!s) { CHECK(0, "missing %s", ids_path); return; }
    for (line = s; *line && i < n_texts; line = next, i++) {
        int nw, ng;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        else next = line + strlen(line);
        if (line[0] == '-') continue;
        nw = parse_line_ids(line, want, 20000);
        ng = (int)bc_tokenizer_encode(t, (const char *)texts[i], lens[i], mode, got, 20000, &err);
        compared++;
        if (ng != nw || memcmp(got, want, (size_t)nw * 4) != 0) {
            if (bad++ < 3) fprintf(stderr, "  %s: string %d (%zu bytes) differs: %d ids vs %d expected\n", what, i, lens[i], ng, nw);
        }
    }
    CHECK(bad == 0 && compared >= 1000, "%s: %d of %d strings differ from sentencepiece", what, bad, compared);
    free(s);
}

/* decode(encode(x)) == x for valid UTF-8, in the default and the untrusted-text modes;
   untrusted text never yields control ids or <...> user-defined symbols. */
static void check_round_trip(const bc_tokenizer *t, const char *what) {
    static int32_t ids[20000];
    static char out[80000];
    int i, bad = 0, forged = 0, mode;
    bc_error err;
    for (i = 0; i < n_texts; i++) {
        /* a literal U+2581 is sentencepiece's own space symbol: it decodes as a space */
        if (!valid_utf8(texts[i], lens[i]) || contains(texts[i], lens[i], "\xe2\x96\x81")) continue;
        for (mode = 0; mode < 2; mode++) {
            int64_t n = bc_tokenizer_encode(t, (const char *)texts[i], lens[i], (bc_special_mode)mode, ids, 20000, &err), k, j;
            k = bc_tokenizer_decode(t, ids, n, out, sizeof out, &err);
            if (k != (int64_t)lens[i] || memcmp(out, texts[i], lens[i]) != 0) bad++;
            if (mode == BC_SPECIAL_NONE)
                for (j = 0; j < n; j++)
                    if (t->type[ids[j]] == BC_PIECE_CONTROL || (t->type[ids[j]] == BC_PIECE_USER_DEFINED && !t->ud_plain[ids[j]])) forged++;
        }
    }
    CHECK(bad == 0, "%s: %d round trips failed", what, bad);
    CHECK(forged == 0, "%s: untrusted text produced %d special ids", what, forged);
}

/* Token by token through the streaming decoder: the same bytes as decode, and no chunk
   ever ends inside a UTF-8 character. */
static void check_streaming(const bc_tokenizer *t) {
    static int32_t ids[20000];
    static char whole[80000], streamed[80000];
    char chunk[256];
    int i, bad = 0, partial = 0;
    bc_error err;
    for (i = 0; i < n_texts; i++) {
        bc_detokenizer d;
        int64_t n, k, j, pos = 0;
        int r;
        if (!valid_utf8(texts[i], lens[i])) continue;
        n = bc_tokenizer_encode(t, (const char *)texts[i], lens[i], BC_SPECIAL_SENTENCEPIECE, ids, 20000, &err);
        k = bc_tokenizer_decode(t, ids, n, whole, sizeof whole, &err);
        bc_detokenizer_init(&d, t);
        for (j = 0; j < n; j++) {
            r = bc_detokenizer_push(&d, ids[j], chunk, sizeof chunk);
            if (r < 0 || !valid_utf8((unsigned char *)chunk, (size_t)r)) { partial++; break; }
            memcpy(streamed + pos, chunk, (size_t)r);
            pos += r;
        }
        r = bc_detokenizer_flush(&d, chunk, sizeof chunk);
        memcpy(streamed + pos, chunk, (size_t)(r > 0 ? r : 0));
        pos += r > 0 ? r : 0;
        if (pos != k || memcmp(whole, streamed, (size_t)k) != 0) bad++;
    }
    CHECK(bad == 0 && partial == 0, "streaming: %d differ, %d partial characters", bad, partial);
}

static void check_detokenizer_edges(const bc_tokenizer *t) {
    bc_detokenizer d;
    char out[64];
    int32_t b_e4 = t->byte_id[0xe4], b_b8 = t->byte_id[0xb8], b_ad = t->byte_id[0xad], b_80 = t->byte_id[0x80];
    int r;
    bc_error err;
    bc_detokenizer_init(&d, t);
    CHECK(bc_detokenizer_push(&d, b_e4, out, 64) == 0 && bc_detokenizer_push(&d, b_b8, out, 64) == 0, "partial character held back");
    r = bc_detokenizer_push(&d, b_ad, out, 64);
    CHECK(r == 3 && !memcmp(out, "\xe4\xb8\xad", 3), "completed character emitted");
    bc_detokenizer_push(&d, b_e4, out, 64);
    r = bc_detokenizer_flush(&d, out, 64);
    CHECK(r == 3 && !memcmp(out, "\xef\xbf\xbd", 3), "dangling lead byte becomes U+FFFD at flush");
    bc_detokenizer_init(&d, t);
    r = bc_detokenizer_push(&d, b_80, out, 64);
    CHECK(r == 3 && !memcmp(out, "\xef\xbf\xbd", 3), "stray continuation byte becomes U+FFFD at once");
    CHECK(bc_detokenizer_push(&d, t->n, out, 64) < 0 && bc_detokenizer_push(&d, -5, out, 64) < 0, "out-of-range ids rejected");
    {
        int32_t bad_ids[2] = {5, 1 << 30};
        CHECK(bc_tokenizer_decode(t, bad_ids, 2, out, 64, &err) == BC_ERR_RANGE, "decode rejects out-of-range ids");
    }
}

/* LLaMA's published vectors (the original tokenizer's ids for its test strings). */
static void check_llama_vectors(void) {
    size_t ni, no;
    char *inp = (char *)bct_read_file("../shared/vocab/ggml-vocab-llama-spm.gguf.inp", &ni);
    char *outp = (char *)bct_read_file("../shared/vocab/ggml-vocab-llama-spm.gguf.out", &no);
    bc_tokenizer *t = from_gguf_file("../shared/vocab/ggml-vocab-llama-spm.gguf");
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p, *q, *line;
    static int32_t want[4096], got[4096];
    int bad = 0, cases = 0;
    bc_error err;
    if (!inp || !outp || !t) { SKIP("../shared/vocab LLaMA vocabulary not present"); free(inp); free(outp); bc_tokenizer_free(t); return; }
    p = inp;
    line = outp;
    while (p && *p) {
        int nw, ng;
        char *nl;
        q = strstr(p, sep);
        if (q) *q = 0;
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        nw = parse_line_ids(line, want, 4096);
        ng = (int)bc_tokenizer_encode(t, p, strlen(p), BC_SPECIAL_SENTENCEPIECE, got, 4096, &err);
        if (ng != nw || memcmp(got, want, (size_t)nw * 4)) { bad++; fprintf(stderr, "  llama case %d differs\n", cases); }
        cases++;
        p = q ? q + strlen(sep) : NULL;
        line = nl ? nl + 1 : line + strlen(line);
    }
    CHECK(bad == 0 && cases > 10, "LLaMA vectors: %d of %d differ", bad, cases);
    free(inp);
    free(outp);
    bc_tokenizer_free(t);
}

/* build/baichuan-tokenize on a trained .model: the ids it prints for a text written to a
   file match sentencepiece's, --count matches their number, and a bad model file fails. */
static void check_tokenize_tool(void) {
    static const char *tmp = "build/tokenize-tool-input.txt";
    char cmd[512], got[65536];
    int32_t want[4096];
    FILE *ids = fopen("tests/data/tokenizer/bpe1k.ids", "r"), *f, *p;
    int i, checked = 0, bad = 0;
    if (!ids) { CHECK(0, "open bpe1k.ids"); return; }
    for (i = 0; i < n_texts && i < 60 && fgets(got, sizeof got, ids); i++) {
        int nw = parse_line_ids(got, want, 4096), j = 0, ok = 1, v;
        f = fopen(tmp, "wb");
        if (!f) break;
        fwrite(texts[i], 1, lens[i], f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "build/baichuan-tokenize -m tests/data/tokenizer/bpe1k.model -f %s", tmp);
        p = popen(cmd, "r");
        if (!p) break;
        while (fscanf(p, "%d", &v) == 1) { if (j >= nw || want[j] != v) ok = 0; j++; }
        if (pclose(p) != 0 || j != nw) ok = 0;
        bad += !ok;
        checked++;
    }
    fclose(ids);
    CHECK(checked == 60 && bad == 0, "baichuan-tokenize matches sentencepiece on %d texts (%d differ)", checked, bad);
    snprintf(cmd, sizeof cmd, "build/baichuan-tokenize -m tests/data/tokenizer/bpe1k.model -p 'hello world 12345' --count");
    p = popen(cmd, "r");
    if (p) {
        int n = -1;
        int32_t w[64];
        bc_tokenizer *t = from_model_file("tests/data/tokenizer/bpe1k.model");
        int rc = fscanf(p, "%d", &n);
        pclose(p);
        CHECK(rc == 1 && t && n == bc_tokenizer_encode(t, "hello world 12345", 17, BC_SPECIAL_SENTENCEPIECE, w, 64, NULL),
              "baichuan-tokenize --count gives %d", n);
        bc_tokenizer_free(t);
    }
    CHECK(system("build/baichuan-tokenize -m tests/data/tokenizer/corpus.txt -p x 2>/dev/null >/dev/null") != 0,
          "baichuan-tokenize fails on a file that is not a tokenizer model");
    remove(tmp);
}

int main(void) {
    bc_tokenizer *t;
    static const char *trained[3] = {"bpe1k", "bpe8k", "b1style"};
    char path[256];
    int i;
    load_corpus();
    CHECK(n_texts >= 1000, "corpus has %d strings", n_texts);
    t = from_model_file("../shared/vocab/baichuan2-tokenizer.model");
    if (t) {
        bc_tokenizer *tg = from_gguf_file("build/vocab-baichuan2.gguf");
        check_ids(t, "tests/data/tokenizer/baichuan2.ids", BC_SPECIAL_SENTENCEPIECE, "Baichuan 2");
        check_ids(t, "tests/data/tokenizer/baichuan2_hf.ids", BC_SPECIAL_HF, "Baichuan 2, Hugging Face mode");
        check_round_trip(t, "Baichuan 2");
        check_streaming(t);
        check_detokenizer_edges(t);
        if (tg) check_ids(tg, "tests/data/tokenizer/baichuan2.ids", BC_SPECIAL_SENTENCEPIECE, "Baichuan 2 via a --vocab-only GGUF");
        else CHECK(0, "build/vocab-baichuan2.gguf missing");
        bc_tokenizer_free(tg);
        bc_tokenizer_free(t);
    } else {
        SKIP("../shared/vocab/baichuan2-tokenizer.model not present: real-vocabulary parity not checked");
    }
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "tests/data/tokenizer/%s.model", trained[i]);
        t = from_model_file(path);
        CHECK(t != NULL, "load %s", path);
        if (!t) continue;
        snprintf(path, sizeof path, "tests/data/tokenizer/%s.ids", trained[i]);
        check_ids(t, path, BC_SPECIAL_SENTENCEPIECE, trained[i]);
        check_round_trip(t, trained[i]);
        bc_tokenizer_free(t);
    }
    check_tokenize_tool();
    check_llama_vectors();
    t = from_gguf_file("../shared/vocab/ggml-vocab-baichuan.gguf");
    if (t) { check_round_trip(t, "Baichuan 1 (ggml-vocab-baichuan.gguf)"); bc_tokenizer_free(t); }
    else SKIP("../shared/vocab Baichuan 1 vocabulary not present");
    for (i = 0; i < n_texts; i++) free(texts[i]);
    return bct_done();
}
