/* baichuan: command-line front end of baichuan.h (generation, chat, tokenizing, logits
   dumps, perplexity). Run with --help for the options. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

typedef struct opts {
    const char *model, *prompt, *tokens, *dump_logits, *perplexity, *system;
    char *prompt_file;
    int n_predict, threads, ctx, batch, chat, tokenize, print_ids, n_gpu_layers, kv_f16, seed_set;
    bc_sampler_params sp;
} opts;

static void usage(FILE *f) {
    fprintf(f,
        "usage: baichuan -m MODEL.gguf [mode] [options]\n"
        "modes (default: generate from -p):\n"
        "  -p TEXT               prompt (taken literally, even when it starts with '-')\n"
        "  -f FILE               prompt from a file (with --tokenize: tokenize a whole file)\n"
        "  --chat                interactive chat in the Baichuan 2 format (one message per line)\n"
        "  --system TEXT         system message for --chat\n"
        "  --tokenize            print the ids of -p, space-separated, no BOS\n"
        "  --tokens \"1 2 3\"      use these ids as the prompt instead of -p\n"
        "  --dump-logits FILE    with --tokens: write float32 [n_tokens][n_vocab] logits\n"
        "  --print-ids           print generated ids instead of text\n"
        "  --perplexity FILE     perplexity of a text file (windows of -c tokens); prints \"perplexity: X\"\n"
        "options:\n"
        "  -n N                  tokens to generate (default 128; chat: 512)\n"
        "  --temp T              temperature, 0 = greedy (default 0.3)\n"
        "  --top-k K             (default 5; 0 = off)\n"
        "  --top-p P             (default 0.85; 1 = off)\n"
        "  --repeat-penalty R    (default 1.05; 1 = off)\n"
        "  -s SEED               random seed (default: time)\n"
        "  -t N                  threads (default: all cores)\n"
        "  -c N                  context length (default: the model's)\n"
        "  -b N                  evaluate prompts in chunks of at most N tokens (default 512)\n"
        "  --kv-f16              store the KV cache in fp16 (half the memory)\n"
#ifdef BC_CUDA
        "  -ngl N                offload to the GPU (any N != 0: all layers)\n"
#endif
        "  -h, --help            this text\n");
}

static int die(const char *fmt, const char *arg) {
    fprintf(stderr, "error: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v != v) return 0;
    *out = (float)v;
    return 1;
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long sz;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { fclose(f); return NULL; }
    buf = (char *)malloc((size_t)sz + 1);
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[sz] = 0; *n = (size_t)sz; }
    return buf;
}

static int parse_args(int argc, char **argv, opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->sp = bc_sampler_default_params();
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) return die("%s needs a value", a) ? -1 : -1; i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
        else if (!strcmp(a, "-m")) { NEEDV(); o->model = v; }
        else if (!strcmp(a, "-p")) { NEEDV(); o->prompt = v; }
        else if (!strcmp(a, "-f")) {
            size_t n;
            NEEDV();
            o->prompt = o->prompt_file = read_file(v, &n);
            if (!o->prompt_file) { die("cannot read %s", v); return -1; }
        }
        else if (!strcmp(a, "--system")) { NEEDV(); o->system = v; }
        else if (!strcmp(a, "--tokens")) { NEEDV(); o->tokens = v; }
        else if (!strcmp(a, "--dump-logits")) { NEEDV(); o->dump_logits = v; }
        else if (!strcmp(a, "--perplexity")) { NEEDV(); o->perplexity = v; }
        else if (!strcmp(a, "--chat")) o->chat = 1;
        else if (!strcmp(a, "--tokenize")) o->tokenize = 1;
        else if (!strcmp(a, "--print-ids")) o->print_ids = 1;
        else if (!strcmp(a, "--kv-f16")) o->kv_f16 = 1;
        else if (!strcmp(a, "-n")) { NEEDV(); if (!parse_int(v, 0, 1 << 24, &o->n_predict)) return die("bad -n '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "-t")) { NEEDV(); if (!parse_int(v, 1, 1024, &o->threads)) return die("bad -t '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "-c")) { NEEDV(); if (!parse_int(v, 1, 1 << 24, &o->ctx)) return die("bad -c '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "-b")) { NEEDV(); if (!parse_int(v, 1, 1 << 20, &o->batch)) return die("bad -b '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "-ngl")) { NEEDV(); if (!parse_int(v, -1, 100000, &o->n_gpu_layers)) return die("bad -ngl '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "-s")) {
            NEEDV();
            o->sp.seed = strtoull(v, NULL, 10);
            o->seed_set = 1;
        }
        else if (!strcmp(a, "--temp")) { NEEDV(); if (!parse_float(v, &o->sp.temperature) || o->sp.temperature < 0) return die("bad --temp '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "--top-k")) { NEEDV(); if (!parse_int(v, 0, 1 << 24, &o->sp.top_k)) return die("bad --top-k '%s'", v) ? -1 : -1; }
        else if (!strcmp(a, "--top-p")) { NEEDV(); if (!parse_float(v, &o->sp.top_p) || !(o->sp.top_p > 0 && o->sp.top_p <= 1)) return die("bad --top-p '%s' (0 < P <= 1)", v) ? -1 : -1; }
        else if (!strcmp(a, "--repeat-penalty")) { NEEDV(); if (!parse_float(v, &o->sp.repetition_penalty) || !(o->sp.repetition_penalty > 0)) return die("bad --repeat-penalty '%s'", v) ? -1 : -1; }
        else { die("unknown argument '%s' (see --help)", a); return -1; }
#undef NEEDV
    }
    if (!o->model) { die("%s", "no model: use -m MODEL.gguf"); return -1; }
    if (!o->seed_set) o->sp.seed = (uint64_t)time(NULL);
    return 0;
}

/* Ids from "1 2 3"; returns the count or -1. */
static int parse_ids(const char *s, int32_t **out) {
    int n = 0, cap = 64;
    int32_t *v = (int32_t *)malloc((size_t)cap * 4);
    while (v && *s) {
        char *end;
        long x;
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        x = strtol(s, &end, 10);
        if (end == s || x < INT32_MIN || x > INT32_MAX) { free(v); return -1; }
        if (n == cap) { int32_t *nv = (int32_t *)realloc(v, (size_t)(cap *= 2) * 4); if (!nv) { free(v); return -1; } v = nv; }
        v[n++] = (int32_t)x;
        s = end;
    }
    if (!v) return -1;
    *out = v;
    return n;
}

static int encode_text(const bc_tokenizer *tok, const char *text, size_t len, bc_special_mode mode, int32_t **out) {
    bc_error err;
    int64_t n = bc_tokenizer_encode(tok, text, len, mode, NULL, 0, &err);
    if (n < 0) { fprintf(stderr, "error: %s\n", err.message); return -1; }
    *out = (int32_t *)malloc((size_t)(n ? n : 1) * 4);
    if (!*out) return -1;
    bc_tokenizer_encode(tok, text, len, mode, *out, n, &err);
    return (int)n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct stream_state {
    int print_ids, n;
} stream_state;

static int on_token(void *user, int32_t token, const char *text, int len) {
    stream_state *st = (stream_state *)user;
    if (token >= 0) st->n++;
    if (st->print_ids) {
        if (token >= 0) printf("%s%d", st->n > 1 ? " " : "", token);
    } else {
        fwrite(text, 1, (size_t)len, stdout);
    }
    fflush(stdout);
    return 0;
}

static int run_generate(const opts *o, bc_model *m, bc_context *c, const int32_t *prompt, int n_prompt) {
    bc_sampler *s;
    bc_error err;
    stream_state st;
    double t0, t1;
    bc_result r;
    int n_new = o->n_predict >= 0 ? o->n_predict : 128;
    if (bc_sampler_create(&s, bc_model_hparams(m)->n_vocab, &o->sp, &err) != BC_OK) return die("%s", err.message);
    memset(&st, 0, sizeof st);
    st.print_ids = o->print_ids;
    if (!o->print_ids && o->prompt) { fputs(o->prompt, stdout); fflush(stdout); }
    t0 = now_s();
    r = bc_generate(c, s, prompt, n_prompt, n_new, on_token, &st, &err);
    t1 = now_s();
    putchar('\n');
    fflush(stdout); /* the statistics line on stderr must follow the text when both go to one pipe */
    bc_sampler_free(s);
    if (r != BC_OK) return die("%s", err.message);
    fprintf(stderr, "[%d prompt + %d new tokens in %.2f s: %.1f tokens/s overall]\n", n_prompt, st.n, t1 - t0,
            (double)(n_prompt + st.n) / (t1 - t0 > 0 ? t1 - t0 : 1e-9));
    return 0;
}

static int run_dump_logits(const opts *o, bc_model *m, bc_context *c, const int32_t *ids, int n) {
    int V = bc_model_hparams(m)->n_vocab;
    float *logits = (float *)malloc((size_t)n * (size_t)V * sizeof(float));
    bc_error err;
    FILE *f;
    char tmp[4200];
    if (!logits) return die("%s", "out of memory for logits");
    if (bc_context_eval(c, ids, n, logits, &err) != BC_OK) { free(logits); return die("%s", err.message); }
    snprintf(tmp, sizeof tmp, "%s.tmp", o->dump_logits);
    f = fopen(tmp, "wb");
    if (!f || fwrite(logits, sizeof(float), (size_t)n * (size_t)V, f) != (size_t)n * (size_t)V || fclose(f) != 0 || rename(tmp, o->dump_logits) != 0) {
        if (f) remove(tmp);
        free(logits);
        return die("cannot write %s", o->dump_logits);
    }
    free(logits);
    return 0;
}

/* Non-overlapping windows of n_ctx tokens, each scored from its second token. */
static int run_perplexity(const opts *o, bc_model *m, bc_context *c) {
    size_t len;
    char *text = read_file(o->perplexity, &len);
    int32_t *ids;
    int n, V = bc_model_hparams(m)->n_vocab, n_ctx = bc_context_n_ctx(c), chunk = o->batch ? o->batch : 512, w, i, j;
    double nll = 0.0;
    long count = 0;
    float *logits;
    bc_error err;
    if (!text) return die("cannot read %s", o->perplexity);
    n = encode_text(bc_model_tokenizer(m), text, len, BC_SPECIAL_SENTENCEPIECE, &ids);
    free(text);
    if (n < 2) return die("%s has fewer than two tokens", o->perplexity);
    if (chunk > n_ctx) chunk = n_ctx;
    logits = (float *)malloc((size_t)chunk * (size_t)V * sizeof(float));
    if (!logits) return die("%s", "out of memory");
    for (w = 0; w < n; w += n_ctx) {
        int wn = n - w < n_ctx ? n - w : n_ctx;
        bc_context_rewind(c, 0);
        for (i = 0; i < wn; i += chunk) {
            int cn = wn - i < chunk ? wn - i : chunk;
            if (bc_context_eval(c, ids + w + i, cn, logits, &err) != BC_OK) { free(logits); free(ids); return die("%s", err.message); }
            for (j = 0; j < cn; j++) {
                int pos = i + j, k;
                const float *l = logits + (size_t)j * V;
                double mx = l[0], sum = 0.0;
                if (pos + 1 >= wn) break;
                for (k = 1; k < V; k++) if (l[k] > mx) mx = l[k];
                for (k = 0; k < V; k++) sum += exp((double)l[k] - mx);
                nll -= (double)l[ids[w + pos + 1]] - mx - log(sum);
                count++;
            }
        }
    }
    free(logits);
    free(ids);
    if (count == 0) return die("%s", "nothing to score");
    printf("perplexity: %.8g\n", exp(nll / (double)count));
    fprintf(stderr, "[%ld tokens scored in windows of %d]\n", count, n_ctx);
    return 0;
}

/* One line per user message; the KV cache carries the conversation between turns. */
static int run_chat(const opts *o, bc_model *m, bc_context *c) {
    const bc_hparams *hp = bc_model_hparams(m);
    const bc_tokenizer *tok = bc_model_tokenizer(m);
    bc_sampler *s;
    bc_error err;
    char line[65536];
    int n_new = o->n_predict >= 0 ? o->n_predict : 512, first = 1;
    if (hp->user_token_id < 0 || hp->assistant_token_id < 0) return die("%s", "this model file has no chat role tokens (baichuan.chat.*)");
    if (bc_sampler_create(&s, hp->n_vocab, &o->sp, &err) != BC_OK) return die("%s", err.message);
    fprintf(stderr, "chat: one message per line, Ctrl-D to end\n");
    for (;;) {
        int32_t *ids = NULL, *turn;
        int n = 0, k = 0, i;
        size_t len;
        stream_state st;
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        n = encode_text(tok, line, len, BC_SPECIAL_NONE, &ids);
        if (n < 0) break;
        turn = (int32_t *)malloc((size_t)(n + 2) * 4 + (first && o->system ? strlen(o->system) * 4 + 4 : 0));
        if (!turn) { free(ids); break; }
        if (first && o->system) {
            int32_t *sys;
            int ns = encode_text(tok, o->system, strlen(o->system), BC_SPECIAL_NONE, &sys);
            for (i = 0; i < ns; i++) turn[k++] = sys[i];
            if (ns >= 0) free(sys);
        }
        turn[k++] = hp->user_token_id;
        for (i = 0; i < n; i++) turn[k++] = ids[i];
        turn[k++] = hp->assistant_token_id;
        free(ids);
        if (bc_context_n_past(c) + k + 1 > bc_context_n_ctx(c)) {
            fprintf(stderr, "[context full: starting a new conversation]\n");
            bc_context_rewind(c, 0);
        }
        if (k >= bc_context_n_ctx(c)) { free(turn); fprintf(stderr, "error: message longer than the context\n"); continue; }
        memset(&st, 0, sizeof st);
        if (bc_generate(c, s, turn, k, n_new, on_token, &st, &err) != BC_OK) fprintf(stderr, "\n[%s]", err.message);
        putchar('\n');
        fflush(stdout);
        free(turn);
        first = 0;
    }
    bc_sampler_free(s);
    return 0;
}

/* Tokenizing needs only the vocabulary, so it also works on --vocab-only files. */
static int run_tokenize(opts *o) {
    bc_gguf g;
    bc_tokenizer *tok;
    bc_error err;
    int32_t *ids = NULL;
    int n, i;
    double t0;
    if (!o->prompt) return die("%s", "--tokenize needs -p TEXT or -f FILE");
    if (bc_gguf_open_file(&g, o->model, &err) != BC_OK) return die("%s", err.message);
    if (bc_tokenizer_from_gguf(&tok, &g, &err) != BC_OK) { bc_gguf_close(&g); return die("%s", err.message); }
    bc_gguf_close(&g);
    t0 = now_s();
    n = encode_text(tok, o->prompt, strlen(o->prompt), BC_SPECIAL_SENTENCEPIECE, &ids);
    if (o->prompt_file)
        fprintf(stderr, "[%zu bytes -> %d tokens in %.3f s: %.2f MB/s]\n", strlen(o->prompt), n, now_s() - t0,
                (double)strlen(o->prompt) / 1e6 / (now_s() - t0 > 0 ? now_s() - t0 : 1e-9));
    for (i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    free(ids);
    free(o->prompt_file);
    bc_tokenizer_free(tok);
    return n < 0;
}

int main(int argc, char **argv) {
    opts o;
    bc_model *m = NULL;
    bc_context *c = NULL;
    bc_context_params cp;
    bc_error err;
    int32_t *ids = NULL;
    int n_ids = 0, rc = 0, pr = parse_args(argc, argv, &o);
    if (pr) return pr > 0 ? 0 : 2;
    if (o.tokenize) return run_tokenize(&o);
    if (bc_model_load(&m, o.model, NULL, &err) != BC_OK) return die("%s", err.message);
    cp = bc_context_default_params();
    cp.n_ctx = o.ctx;
    cp.n_threads = o.threads;
    cp.n_batch = o.batch;
    cp.kv_f16 = o.kv_f16;
    cp.n_gpu_layers = o.n_gpu_layers;
    if (bc_context_create(&c, m, &cp, &err) != BC_OK) { bc_model_free(m); return die("%s", err.message); }
    if (o.perplexity) rc = run_perplexity(&o, m, c);
    else if (o.chat) rc = run_chat(&o, m, c);
    else {
        if (o.tokens) {
            n_ids = parse_ids(o.tokens, &ids);
            if (n_ids < 0) rc = die("bad --tokens '%s'", o.tokens);
        } else if (o.prompt) {
            n_ids = encode_text(bc_model_tokenizer(m), o.prompt, strlen(o.prompt), BC_SPECIAL_SENTENCEPIECE, &ids);
            if (n_ids < 0) rc = 1;
        } else {
            rc = die("%s", "nothing to do: give -p TEXT, --tokens, --chat or --perplexity");
        }
        if (!rc && n_ids == 0) rc = die("%s", "the prompt is empty");
        if (!rc && n_ids >= bc_context_n_ctx(c)) {
            char msg[64];
            snprintf(msg, sizeof msg, "%d tokens", n_ids);
            rc = die("the prompt (%s) does not fit the context (use -c)", msg);
        }
        if (!rc && o.dump_logits) rc = run_dump_logits(&o, m, c, ids, n_ids);
        else if (!rc) rc = run_generate(&o, m, c, ids, n_ids);
        free(ids);
    }
    bc_context_free(c);
    bc_model_free(m);
    free(o.prompt_file);
    return rc;
}
