/* libFuzzer harness: encode arbitrary bytes (invalid UTF-8 included) in every special
   mode, check decode(encode(x)) == x for valid UTF-8, and decode / stream arbitrary id
   sequences (out-of-range ids included). The vocabulary comes from BC_FUZZ_VOCAB
   (a tokenizer.model), default tests/data/tok512/tokenizer.model. */
#define _GNU_SOURCE /* memmem */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"

static bc_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("BC_FUZZ_VOCAB");
    bc__file_data fd;
    bc_spm_model m;
    bc_error err;
    (void)argc; (void)argv;
    if (!path) path = "tests/data/tok512/tokenizer.model";
    memset(&m, 0, sizeof m);
    if (bc__read_whole_file(&fd, path, 0, &err) != BC_OK || bc_spm_parse(&m, fd.data, fd.size, &err) != BC_OK ||
        bc_tokenizer_from_spm(&tok, &m, &err) != BC_OK) {
        fprintf(stderr, "fuzz_tokenizer: cannot load vocabulary %s: %s\n", path, err.message);
        abort();
    }
    bc_spm_free(&m);
    bc__release_file(&fd);
    return 0;
}

static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], need, cp, k;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xe0) == 0xc0) { need = 1; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { need = 2; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { need = 3; cp = c & 0x07; }
        else return 0;
        for (k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
            return 0;
        i += need + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int32_t ids[1 << 16];
    static char out[1 << 18];
    bc_error err;
    bc_detokenizer d;
    int mode;
    int64_t n, k, i;
    if (size > 4096) return 0;
    for (mode = 0; mode < 3; mode++) {
        n = bc_tokenizer_encode(tok, (const char *)data, size, (bc_special_mode)mode, ids, 1 << 16, &err);
        if (n < 0) abort(); /* every byte string is encodable */
        /* a literal U+2581 is sentencepiece's own space symbol and decodes as a space */
        if (mode == BC_SPECIAL_NONE && valid_utf8(data, size) && !memmem(data, size, "\xe2\x96\x81", 3)) {
            k = bc_tokenizer_decode(tok, ids, n, out, sizeof out, &err);
            if (k != (int64_t)size || memcmp(out, data, size) != 0) abort();
        }
    }
    /* the same bytes as a sequence of (possibly invalid) ids */
    n = (int64_t)(size / 2);
    for (i = 0; i < n; i++) ids[i] = (int32_t)((data[2 * i] | data[2 * i + 1] << 8) - 256);
    (void)bc_tokenizer_decode(tok, ids, n, out, 1024, &err);
    bc_detokenizer_init(&d, tok);
    for (i = 0; i < n; i++) (void)bc_detokenizer_push(&d, ids[i], out, 64);
    (void)bc_detokenizer_flush(&d, out, 64);
    return 0;
}
