/* The forward pass against the official PyTorch code (tests/data, made by
   tools/reference/make_model_fixtures.py): logits at every position for RoPE (7B) and
   ALiBi (13B) variants in f32, f16, q8_0 and q4_0, greedy continuations with incremental
   decoding, chunked prefill, thread-count independence, and bad input. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

static int read_ids(const char *path, int line, int32_t *ids, int cap) {
    size_t n;
    char *s = (char *)bct_read_file(path, &n), *p;
    int k = 0;
    if (!s) return -1;
    p = s;
    while (line-- > 0 && (p = strchr(p, '\n')) != NULL) p++;
    while (p && *p && *p != '\n' && k < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ' ') p++;
    }
    free(s);
    return k;
}

static float *read_f32(const char *path, size_t count) {
    size_t n;
    float *v = (float *)bct_read_file(path, &n);
    if (v && n != count * 4) { free(v); v = NULL; }
    return v;
}

static bc_model *load(const char *path) {
    bc_model *m = NULL;
    bc_error err;
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) CHECK(0, "load %s: %s", path, err.message);
    return m;
}

static bc_context *context(const bc_model *m, int threads, int batch, int kv_f16) {
    bc_context *c = NULL;
    bc_context_params p = bc_context_default_params();
    bc_error err;
    p.n_threads = threads;
    p.n_batch = batch;
    p.kv_f16 = kv_f16;
    if (bc_context_create(&c, m, &p, &err) != BC_OK) CHECK(0, "context: %s", err.message);
    return c;
}

static double cosine(const float *a, const float *b, int n) {
    double d = 0, x = 0, y = 0;
    int i;
    for (i = 0; i < n; i++) { d += (double)a[i] * b[i]; x += (double)a[i] * a[i]; y += (double)b[i] * b[i]; }
    return d / sqrt(x * y);
}

/* Our logits for tokens_len<len>.txt vs the official ones. */
static void check_logits(const char *model, const char *dir, int len, const char *suffix, double max_abs, double min_cos) {
    char path[256];
    int32_t ids[256];
    bc_model *m = load(model);
    bc_context *c;
    bc_error err;
    float *ours, *ref;
    int n, V, t, i;
    double worst = 0, worst_cos = 1;
    if (!m) return;
    V = bc_model_hparams(m)->n_vocab;
    snprintf(path, sizeof path, "%s/tokens_len%d.txt", dir, len);
    n = read_ids(path, 0, ids, 256);
    snprintf(path, sizeof path, "%s/logits_len%d%s.f32", dir, len, suffix);
    ref = read_f32(path, (size_t)n * V);
    CHECK(n == len && ref, "fixture %s", path);
    c = context(m, 2, 0, 0);
    ours = (float *)malloc((size_t)n * V * 4);
    if (c && ref && n == len) {
        CHECK(bc_context_eval(c, ids, n, ours, &err) == BC_OK, "%s", err.message);
        for (t = 0; t < n; t++) {
            double cs = cosine(ours + (size_t)t * V, ref + (size_t)t * V, V);
            if (cs < worst_cos) worst_cos = cs;
            for (i = 0; i < V; i++) {
                double d = fabs(ours[(size_t)t * V + i] - ref[(size_t)t * V + i]);
                if (d > worst) worst = d;
            }
        }
        if (max_abs > 0) CHECK(worst <= max_abs, "%s len %d%s: max |diff| %g > %g", model, len, suffix, worst, max_abs);
        if (min_cos > 0) CHECK(worst_cos >= min_cos, "%s len %d%s: min cosine %.7f < %.7f", model, len, suffix, worst_cos, min_cos);
        CHECK(memcmp(bc_context_logits(c), ours + (size_t)(n - 1) * V, (size_t)V * 4) == 0, "last logits kept");
    }
    free(ours);
    free(ref);
    bc_context_free(c);
    bc_model_free(m);
}

/* The bf16 checkpoint stored as f32 and as bf16 holds the same values exactly, except the
   head, whose normalised rows are rounded to bf16 (relative error <= 2^-9 per weight):
   the two weight paths must agree to that precision. */
static void check_same_logits(const char *a, const char *b, const char *dir) {
    char path[256];
    int32_t ids[256];
    bc_model *ma = load(a), *mb = load(b);
    bc_context *ca, *cb;
    bc_error err;
    int n, V;
    float *la, *lb;
    if (!ma || !mb) { bc_model_free(ma); bc_model_free(mb); return; }
    snprintf(path, sizeof path, "%s/tokens_len17.txt", dir);
    n = read_ids(path, 0, ids, 256);
    V = bc_model_hparams(ma)->n_vocab;
    la = (float *)malloc((size_t)n * V * 4);
    lb = (float *)malloc((size_t)n * V * 4);
    ca = context(ma, 2, 0, 0);
    cb = context(mb, 2, 0, 0);
    CHECK(bc_context_eval(ca, ids, n, la, &err) == BC_OK && bc_context_eval(cb, ids, n, lb, &err) == BC_OK, "eval");
    {
        int i;
        double worst = 0, scale = 0;
        for (i = 0; i < n * V; i++) {
            if (fabs(la[i] - lb[i]) > worst) worst = fabs(la[i] - lb[i]);
            if (fabs(la[i]) > scale) scale = fabs(la[i]);
        }
        CHECK(worst <= scale / 256.0, "%s vs %s: max diff %g for logits up to %g", a, b, worst, scale);
    }
    free(la); free(lb);
    bc_context_free(ca); bc_context_free(cb);
    bc_model_free(ma); bc_model_free(mb);
}

/* 40 greedy tokens with the official incremental decoding: prompt, then one at a time. */
static void check_greedy(const char *model, const char *dir, const char *prompt_name) {
    char path[256];
    int32_t prompt[64], want[64], got[64];
    int np, nw, i;
    bc_model *m = load(model);
    bc_context *c;
    bc_sampler *s;
    bc_sampler_params sp = bc_sampler_default_params();
    bc_error err;
    if (!m) return;
    snprintf(path, sizeof path, "%s/greedy_%s.txt", dir, prompt_name);
    np = read_ids(path, 0, prompt, 64);
    nw = read_ids(path, 1, want, 64);
    CHECK(np > 0 && nw == 40, "fixture %s", path);
    sp.temperature = 0;
    sp.repetition_penalty = 1; /* the fixture is plain argmax */
    c = context(m, 2, 0, 0);
    CHECK(bc_sampler_create(&s, bc_model_hparams(m)->n_vocab, &sp, &err) == BC_OK, "sampler");
    if (c && np > 0) {
        CHECK(bc_context_eval(c, prompt, np, NULL, &err) == BC_OK, "%s", err.message);
        for (i = 0; i < nw; i++) {
            got[i] = bc_sampler_sample(s, bc_context_logits(c), NULL, 0);
            if (bc_context_eval(c, &got[i], 1, NULL, &err) != BC_OK) break;
        }
        CHECK(i == nw && memcmp(got, want, (size_t)nw * 4) == 0, "%s %s: greedy ids differ from the official decoding", model, prompt_name);
    }
    bc_sampler_free(s);
    bc_context_free(c);
    bc_model_free(m);
}

/* Chunks through the KV cache == one pass; 1, 2 and 3 threads bit-identical. */
static void check_chunks_and_threads(const char *model, const char *dir) {
    char path[256];
    int32_t ids[256];
    bc_model *m = load(model);
    bc_error err;
    float *one, *chunked, *t3;
    int n, V, splits[4] = {1, 16, 50, 53}, k, off = 0;
    bc_context *c1, *c2, *c3;
    if (!m) return;
    V = bc_model_hparams(m)->n_vocab;
    snprintf(path, sizeof path, "%s/tokens_len120.txt", dir);
    n = read_ids(path, 0, ids, 256);
    one = (float *)malloc((size_t)n * V * 4);
    chunked = (float *)malloc((size_t)n * V * 4);
    t3 = (float *)malloc((size_t)n * V * 4);
    c1 = context(m, 1, 0, 0);
    c2 = context(m, 2, 0, 0);
    c3 = context(m, 3, 7, 0); /* batches of 7: a prefill split the caller never asked for */
    if (c1 && c2 && c3 && n == 120) {
        double worst = 0;
        int i;
        CHECK(bc_context_eval(c1, ids, n, one, &err) == BC_OK, "%s", err.message);
        for (k = 0; k < 4; k++) {
            CHECK(bc_context_eval(c2, ids + off, splits[k], chunked + (size_t)off * V, &err) == BC_OK, "%s", err.message);
            off += splits[k];
        }
        CHECK(bc_context_n_past(c2) == 120, "n_past after chunks");
        for (i = 0; i < n * V; i++) if (fabs(one[i] - chunked[i]) > worst) worst = fabs(one[i] - chunked[i]);
        CHECK(worst <= 1e-5, "%s: chunked prefill differs by %g", model, worst);
        CHECK(bc_context_eval(c3, ids, n, t3, &err) == BC_OK, "%s", err.message);
        /* the same chunking with another thread count must be bit-identical */
        bc_context_rewind(c2, 0);
        CHECK(bc_context_eval(c2, ids, n, chunked, &err) == BC_OK, "%s", err.message);
        CHECK(memcmp(one, chunked, (size_t)n * V * 4) == 0, "%s: 1 and 2 threads differ", model);
        bc_context_rewind(c1, 0);
        for (i = 0; i < n; i += 7) CHECK(bc_context_eval(c1, ids + i, n - i < 7 ? n - i : 7, one + (size_t)i * V, &err) == BC_OK, "eval");
        CHECK(memcmp(one, t3, (size_t)n * V * 4) == 0, "%s: 1 and 3 threads differ (batch 7)", model);
    }
    bc_context_free(c1);
    bc_context_free(c2);
    bc_context_free(c3);
    free(one);
    free(chunked);
    free(t3);
    bc_model_free(m);
}

/* A copy of a valid model file with one change made through our writer. */
static void write_variant(const char *src, const char *dst, const char *drop_tensor, const char *arch, int shrink) {
    bc_gguf g;
    bc_gguf_writer *w;
    bc_error err;
    uint64_t i;
    bc_gguf_open_file(&g, src, &err);
    bc_gguf_writer_create(&w, &err);
    for (i = 0; i < g.n_kv; i++) {
        const bc_gguf_kv *kv = &g.kv[i];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (!strcmp(key, "general.architecture")) { bc_gguf_writer_set_str(w, key, arch); continue; }
        if (kv->type == BC_GGUF_UINT32) { uint32_t v; bc_gguf_get_u32(&g, key, &v); bc_gguf_writer_set_u32(w, key, v); }
        else if (kv->type == BC_GGUF_FLOAT32) { float v; bc_gguf_get_f32(&g, key, &v); bc_gguf_writer_set_f32(w, key, v); }
        else if (kv->type == BC_GGUF_BOOL) { int v; bc_gguf_get_bool(&g, key, &v); bc_gguf_writer_set_bool(w, key, v); }
        else if (kv->type == BC_GGUF_STRING) { bc_str s; char buf[256]; bc_gguf_get_str(&g, key, &s); snprintf(buf, sizeof buf, "%.*s", (int)s.len, s.ptr); bc_gguf_writer_set_str(w, key, buf); }
        else if (kv->type == BC_GGUF_ARRAY && kv->elem_type == BC_GGUF_STRING) {
            const char **strs = (const char **)malloc(kv->n * sizeof(char *));
            uint64_t *lens = (uint64_t *)malloc(kv->n * 8), j;
            for (j = 0; j < kv->n; j++) { bc_str s; bc_gguf_array_str(&g, kv, j, &s); strs[j] = s.ptr; lens[j] = s.len; }
            bc_gguf_writer_set_arr_str(w, key, strs, lens, kv->n);
            free((void *)strs); free(lens);
        } else if (kv->type == BC_GGUF_ARRAY) {
            bc_gguf_writer_set_arr(w, key, kv->elem_type, kv->data, kv->n);
        }
    }
    for (i = 0; i < g.n_tensors; i++) {
        const bc_gguf_tensor *t = &g.tensors[i];
        char name[128];
        int64_t ne[4];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (drop_tensor && !strcmp(name, drop_tensor)) continue;
        memcpy(ne, t->ne, sizeof ne);
        if (shrink && !strcmp(name, "blk.1.ffn_up.weight")) ne[1] -= 1;
        bc_gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne);
    }
    bc_gguf_writer_begin(w, dst, &err);
    for (i = 0; i < g.n_tensors; i++) {
        const bc_gguf_tensor *t = &g.tensors[i];
        char name[128];
        uint64_t nb = t->nbytes;
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (drop_tensor && !strcmp(name, drop_tensor)) continue;
        if (shrink && !strcmp(name, "blk.1.ffn_up.weight")) nb -= nb / (uint64_t)t->ne[1];
        bc_gguf_writer_write_tensor(w, t->data, nb, &err);
    }
    bc_gguf_writer_end(w, &err);
    bc_gguf_writer_free(w);
    bc_gguf_close(&g);
}

static void check_bad_input(void) {
    bc_model *m = NULL;
    bc_context *c;
    bc_context_params p = bc_context_default_params();
    bc_error err;
    int32_t ids[40];
    int i;
    write_variant("build/b7-s2-f32.gguf", "build/test_model.bad.gguf", NULL, "llama", 0);
    CHECK(bc_model_load(&m, "build/test_model.bad.gguf", NULL, &err) == BC_ERR_UNSUPPORTED && strstr(err.message, "llama"), "wrong architecture: %s", err.message);
    write_variant("build/b7-s2-f32.gguf", "build/test_model.bad.gguf", "blk.1.attn_v.weight", "baichuan", 0);
    CHECK(bc_model_load(&m, "build/test_model.bad.gguf", NULL, &err) == BC_ERR_SHAPE && strstr(err.message, "blk.1.attn_v.weight"), "missing tensor: %s", err.message);
    write_variant("build/b7-s2-f32.gguf", "build/test_model.bad.gguf", NULL, "baichuan", 1);
    CHECK(bc_model_load(&m, "build/test_model.bad.gguf", NULL, &err) == BC_ERR_SHAPE && strstr(err.message, "blk.1.ffn_up.weight"), "wrong shape: %s", err.message);
    write_variant("build/b7-s2-f32.gguf", "build/test_model.bad.gguf", NULL, "baichuan", 0);
    CHECK(bc_model_load(&m, "build/test_model.bad.gguf", NULL, &err) == BC_OK, "the unchanged copy loads: %s", err.message);
    bc_model_free(m);
    m = NULL;
    remove("build/test_model.bad.gguf");
    CHECK(bc_model_load(&m, "build/no-such-model.gguf", NULL, &err) == BC_ERR_IO, "missing file");
    if (bc_model_load(&m, "build/b7-s2-f32.gguf", NULL, &err) != BC_OK) return;
    p.n_ctx = 32;
    p.n_threads = 2;
    CHECK(bc_context_create(&c, m, &p, &err) == BC_OK, "%s", err.message);
    for (i = 0; i < 40; i++) ids[i] = 5 + i;
    ids[3] = 512;
    CHECK(bc_context_eval(c, ids, 5, NULL, &err) == BC_ERR_RANGE && strstr(err.message, "512"), "id out of range: %s", err.message);
    ids[3] = -1;
    CHECK(bc_context_eval(c, ids, 5, NULL, &err) == BC_ERR_RANGE, "negative id");
    ids[3] = 8;
    CHECK(bc_context_eval(c, ids, 40, NULL, &err) == BC_ERR_RANGE && bc_context_n_past(c) == 0, "prompt longer than the context: %s", err.message);
    CHECK(bc_context_eval(c, ids, 32, NULL, &err) == BC_OK, "exactly the context fits");
    CHECK(bc_context_eval(c, ids, 1, NULL, &err) == BC_ERR_RANGE, "one past the context");
    CHECK(bc_context_rewind(c, 33) == BC_ERR_RANGE && bc_context_rewind(c, 10) == BC_OK && bc_context_n_past(c) == 10, "rewind");
    bc_context_free(c);
    bc_model_free(m);
}

static int collect(void *user, int32_t token, const char *text, int len) {
    int32_t *out = (int32_t *)user;
    (void)text; (void)len;
    if (token >= 0 && out[0] < 40) out[1 + out[0]++] = token;
    return 0;
}

/* HF's repetition penalty covers every id of input_ids; generating on top of a cache that
   already holds part of the prompt (a chat continued in the KV cache) must penalise the
   cached ids too, i.e. give the same tokens as generating from the whole prompt at once. */
static void check_penalty_covers_cache(const char *model) {
    static const int32_t base[4] = {5, 17, 42, 99};
    int32_t prompt[12], free_run[41], whole[41], split[41];
    bc_sampler_params sp = bc_sampler_default_params();
    bc_model *m = load(model);
    bc_context *a, *b;
    bc_sampler *s, *plain;
    bc_error err;
    int i, same = 1;
    if (!m) return;
    sp.temperature = 0;
    sp.repetition_penalty = 1;
    CHECK(bc_sampler_create(&plain, bc_model_hparams(m)->n_vocab, &sp, &err) == BC_OK, "sampler: %s", err.message);
    sp.repetition_penalty = 50;
    CHECK(bc_sampler_create(&s, bc_model_hparams(m)->n_vocab, &sp, &err) == BC_OK, "sampler: %s", err.message);
    /* the prompt: a few ids and the model's own unpenalised continuation, ids it would
       gladly repeat unless the penalty sees them */
    a = context(m, 1, 8, 0);
    free_run[0] = whole[0] = split[0] = 0;
    CHECK(bc_generate(a, plain, base, 4, 8, collect, free_run, &err) == BC_OK, "generate: %s", err.message);
    memcpy(prompt, base, sizeof base);
    memcpy(prompt + 4, free_run + 1, 8 * sizeof(int32_t));
    bc_context_free(a);
    a = context(m, 1, 8, 0);
    b = context(m, 1, 8, 0);
    CHECK(bc_generate(a, s, prompt, 12, 30, collect, whole, &err) == BC_OK, "generate: %s", err.message);
    CHECK(bc_context_eval(b, prompt, 11, NULL, &err) == BC_OK, "eval: %s", err.message);
    CHECK(bc_generate(b, s, prompt + 11, 1, 30, collect, split, &err) == BC_OK, "generate: %s", err.message);
    CHECK(whole[0] == 30 && split[0] == 30, "%d and %d tokens generated", whole[0], split[0]);
    for (i = 1; i <= 30; i++) same &= whole[i] == split[i];
    CHECK(same, "%s: penalised greedy tokens differ when part of the prompt was already cached", model);
    bc_sampler_free(plain);
    bc_sampler_free(s);
    bc_context_free(a);
    bc_context_free(b);
    bc_model_free(m);
}

int main(void) {
    static const char *names[4] = {"b7-s2", "b13-s2", "b7-q", "b13-q"};
    static const int lens[3] = {1, 17, 120};
    char model[128], dir[128];
    int i, l;
    for (i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "tests/data/%s", names[i]);
        snprintf(model, sizeof model, "build/%s-f32.gguf", names[i]);
        for (l = 0; l < 3; l++) check_logits(model, dir, lens[l], "", 1e-4, 0);
        snprintf(model, sizeof model, "build/%s-f16.gguf", names[i]);
        check_logits(model, dir, 120, "", 3e-2, 0);
    }
    for (i = 2; i < 4; i++) {
        snprintf(dir, sizeof dir, "tests/data/%s", names[i]);
        for (l = 1; l < 3; l++) {
            snprintf(model, sizeof model, "build/%s-q8_0.gguf", names[i]);
            check_logits(model, dir, lens[l], ".q8_0", 0, 0.9995);
            snprintf(model, sizeof model, "build/%s-q4_0.gguf", names[i]);
            check_logits(model, dir, lens[l], ".q4_0", 0, 0.9995);
        }
    }
    check_same_logits("build/b7-s2-bf16-f32.gguf", "build/b7-s2-bf16-bf16.gguf", "tests/data/b7-s2");
    for (i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "tests/data/%s", names[i]);
        snprintf(model, sizeof model, "build/%s-f32.gguf", names[i]);
        check_greedy(model, dir, "p1");
        check_greedy(model, dir, "p17");
        snprintf(model, sizeof model, "build/%s-f16.gguf", names[i]);
        check_greedy(model, dir, "p1");
        check_greedy(model, dir, "p17");
    }
    check_chunks_and_threads("build/b7-s2-f32.gguf", "tests/data/b7-s2");
    check_chunks_and_threads("build/b13-s2-f32.gguf", "tests/data/b13-s2");
    check_chunks_and_threads("build/b7-q-q4_0.gguf", "tests/data/b7-q");
    check_penalty_covers_cache("build/b7-q-f32.gguf");
    check_penalty_covers_cache("build/b13-q-f32.gguf");
    check_bad_input();
    return bct_done();
}
