/* baichuan-tokenize: tokenize text or a whole file with a GGUF vocabulary or a SentencePiece
 * tokenizer.model, printing ids space-separated (no BOS), or only counts and throughput.
 *
 *   baichuan-tokenize -m FILE.gguf|tokenizer.model [-p TEXT | -f FILE] [--special sp|none|hf]
 *                     [--count] [--time]
 */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int die(const char *msg, const char *arg) {
    fprintf(stderr, "baichuan-tokenize: %s%s\n", msg, arg ? arg : "");
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Whole file into memory; binary-safe, so invalid UTF-8 reaches the tokenizer unchanged. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f) return NULL;
    do {
        if (n == cap) {
            char *nb = (char *)realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got);
    if (ferror(f)) { free(buf); fclose(f); return NULL; }
    fclose(f);
    *len = n;
    return buf ? buf : (char *)calloc(1, 1);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A .gguf goes through the GGUF reader, anything else is parsed as a SentencePiece protobuf. */
static int load_tokenizer(const char *path, bc_tokenizer **tok, bc_error *err) {
    bc_result r;
    if (ends_with(path, ".gguf")) {
        bc_gguf g;
        if (bc_gguf_open_file(&g, path, err) != BC_OK) return 0;
        r = bc_tokenizer_from_gguf(tok, &g, err);
        bc_gguf_close(&g);
    } else {
        bc_spm_model m;
        size_t len = 0;
        char *data = read_file(path, &len);
        if (!data) { snprintf(err->message, sizeof err->message, "cannot read %s", path); return 0; }
        r = bc_spm_parse(&m, data, len, err);
        if (r == BC_OK) {
            r = bc_tokenizer_from_spm(tok, &m, err);
            bc_spm_free(&m);
        }
        free(data);
    }
    return r == BC_OK;
}

int main(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL;
    bc_special_mode mode = BC_SPECIAL_SENTENCEPIECE;
    int count = 0, timing = 0, i;
    char *buf = NULL;
    size_t len;
    bc_tokenizer *tok = NULL;
    bc_error err;
    int32_t *ids;
    int64_t n;
    double t0, dt;
    memset(&err, 0, sizeof err);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-m") && has_next) model = argv[++i];
        else if (!strcmp(a, "-p") && has_next) text = argv[++i];
        else if (!strcmp(a, "-f") && has_next) file = argv[++i];
        else if (!strcmp(a, "--special") && has_next) {
            const char *s = argv[++i];
            if (!strcmp(s, "sp")) mode = BC_SPECIAL_SENTENCEPIECE;
            else if (!strcmp(s, "none")) mode = BC_SPECIAL_NONE;
            else if (!strcmp(s, "hf")) mode = BC_SPECIAL_HF;
            else return die("--special takes sp, none or hf, not ", s);
        } else if (!strcmp(a, "--count")) count = 1;
        else if (!strcmp(a, "--time")) timing = 1;
        else {
            fprintf(stderr, "usage: %s -m FILE.gguf|tokenizer.model [-p TEXT | -f FILE] "
                            "[--special sp|none|hf] [--count] [--time]\n", argv[0]);
            return 1;
        }
    }
    if (!model) return die("missing -m FILE", NULL);
    if (!text == !file) return die("give exactly one of -p TEXT or -f FILE", NULL);
    if (file) {
        buf = read_file(file, &len);
        if (!buf) return die("cannot read ", file);
        text = buf;
    } else {
        len = strlen(text);
    }
    if (!load_tokenizer(model, &tok, &err)) { free(buf); return die(err.message, NULL); }
    t0 = now_s();
    n = bc_tokenizer_encode(tok, text, len, mode, NULL, 0, &err);
    ids = n > 0 ? (int32_t *)malloc((size_t)n * sizeof *ids) : NULL;
    if (n < 0 || (n > 0 && !ids) || (n > 0 && bc_tokenizer_encode(tok, text, len, mode, ids, n, &err) != n)) {
        free(ids); free(buf); bc_tokenizer_free(tok);
        return die(n < 0 ? err.message : "out of memory", NULL);
    }
    dt = now_s() - t0;
    if (timing) {
        printf("%zu bytes -> %lld tokens in %.3f s: %.2f MB/s\n", len, (long long)n, dt,
               (double)len / 1e6 / (dt > 0 ? dt : 1e-9));
    } else if (count) {
        printf("%lld\n", (long long)n);
    } else {
        for (i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        printf("\n");
    }
    free(ids);
    free(buf);
    bc_tokenizer_free(tok);
    return 0;
}
