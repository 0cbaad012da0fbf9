/* GPU offload (baichuan_cuda.cu) against the CPU engine in the same process, on the converted
   test models of both variants (b7: RoPE, b13: ALiBi, tiny: the bundled trained 7B-layout
   model) in every weight type: a 33-token prefill with every position's logits, then single-
   token decode steps (the matrix-vector kernels), then greedy continuations. The CPU engine
   is the reference (it is checked against the official PyTorch code by test_model/test_tiny).
   Thresholds: f32 max |diff| <= 1e-3; f16/bf16 <= 1e-2 and identical greedy tokens;
   q8_0/q4_0 cosine >= 0.999 per position (the CPU quantises activations to q8_0, the GPU
   keeps them f32). Needs a CUDA device: without one every case is skipped. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

#define N_PRE 33
#define N_DEC 6
#define N_GREEDY 24

typedef struct cmp { double max_abs, min_cos; } cmp;

static void compare(const float *a, const float *b, int64_t rows, int64_t nv, cmp *c) {
    int64_t r, i;
    for (r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (i = 0; i < nv; i++) {
            double x = a[r * nv + i], y = b[r * nv + i], d = fabs(x - y);
            if (d > c->max_abs || d != d) c->max_abs = d != d ? 1e30 : d;
            ab += x * y; aa += x * x; bb += y * y;
        }
        ab /= sqrt(aa * bb) + 1e-30;
        if (ab < c->min_cos) c->min_cos = ab;
    }
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t i, b = 0;
    for (i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

static void run_model(const char *path, const char *type) {
    bc_model *m = NULL;
    bc_context *c = NULL;
    bc_cuda_model *g = NULL;
    bc_context_params cp = bc_context_default_params();
    bc_error err;
    const bc_hparams *hp;
    int32_t toks[N_PRE + N_DEC], gc[N_GREEDY], gg[N_GREEDY], i, nv;
    float *lc, *lg;
    cmp pre = {0, 1}, dec = {0, 1};
    int is_q = !strcmp(type, "q8_0") || !strcmp(type, "q4_0"), same = 1;
    double tol = !strcmp(type, "f32") ? 1e-3 : 1e-2;
    FILE *f = fopen(path, "rb");
    if (!f) { SKIP("%s missing (make test builds it)", path); return; }
    fclose(f);
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) { CHECK(0, "load %s: %s", path, err.message); return; }
    hp = bc_model_hparams(m);
    nv = hp->n_vocab;
    cp.n_ctx = 128;
    cp.n_threads = 4;
    CHECK(bc_context_create(&c, m, &cp, &err) == BC_OK, "%s", err.message);
    CHECK(bc_cuda_model_create(&g, m, cp.n_ctx, &err) == BC_OK, "%s: %s", path, err.message);
    if (!c || !g) { bc_cuda_model_free(g); bc_context_free(c); bc_model_free(m); return; }
    for (i = 0; i < N_PRE + N_DEC; i++) toks[i] = (int32_t)((i * 7919u + 13u) % (uint32_t)nv);
    lc = (float *)malloc((size_t)N_PRE * nv * 4);
    lg = (float *)malloc((size_t)N_PRE * nv * 4);
    CHECK(bc_context_eval(c, toks, N_PRE, lc, &err) == BC_OK, "%s", err.message);
    CHECK(bc_cuda_eval(g, toks, N_PRE, 0, lg, NULL, &err) == BC_OK, "%s", err.message);
    compare(lc, lg, N_PRE, nv, &pre);
    for (i = 0; i < N_DEC; i++) {
        CHECK(bc_context_eval(c, toks + N_PRE + i, 1, NULL, &err) == BC_OK, "%s", err.message);
        CHECK(bc_cuda_eval(g, toks + N_PRE + i, 1, N_PRE + i, NULL, lg, &err) == BC_OK, "%s", err.message);
        compare(bc_context_logits(c), lg, 1, nv, &dec);
    }
    /* greedy continuation from the prefilled prompt (both caches hold N_PRE + N_DEC tokens) */
    gc[0] = gg[0] = argmax(bc_context_logits(c), nv);
    memcpy(lc, bc_context_logits(c), (size_t)nv * 4);
    gg[0] = argmax(lg, nv);
    for (i = 1; i < N_GREEDY; i++) {
        CHECK(bc_context_eval(c, &gc[i - 1], 1, NULL, &err) == BC_OK, "%s", err.message);
        gc[i] = argmax(bc_context_logits(c), nv);
        CHECK(bc_cuda_eval(g, &gg[i - 1], 1, N_PRE + N_DEC + i - 1, NULL, lg, &err) == BC_OK, "%s", err.message);
        gg[i] = argmax(lg, nv);
        if (gc[i] != gg[i]) same = 0;
    }
    if (gc[0] != gg[0]) same = 0;
    printf("%-28s prefill max|d| %.3g min cos %.7f   decode max|d| %.3g min cos %.7f   greedy %s\n", path, pre.max_abs, pre.min_cos,
           dec.max_abs, dec.min_cos, same ? "same" : "DIFFERENT");
    if (is_q) {
        CHECK(pre.min_cos >= 0.999, "%s prefill cosine %.6f", path, pre.min_cos);
        CHECK(dec.min_cos >= 0.999, "%s decode cosine %.6f", path, dec.min_cos);
    } else {
        CHECK(pre.max_abs <= tol, "%s prefill max abs diff %g", path, pre.max_abs);
        CHECK(dec.max_abs <= tol, "%s decode max abs diff %g", path, dec.max_abs);
        CHECK(same, "%s greedy continuation differs from the CPU's", path);
    }
    free(lc); free(lg);
    bc_cuda_model_free(g);
    bc_context_free(c);
    bc_model_free(m);
}

/* the bc_context hook: n_gpu_layers != 0 routes bc_context_eval through the GPU */
static void context_hook(const char *path) {
    bc_model *m = NULL;
    bc_context *cpu = NULL, *gpu = NULL;
    bc_context_params cp = bc_context_default_params();
    bc_error err;
    int32_t toks[20], i, nv;
    cmp d = {0, 1};
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) { SKIP("%s: %s", path, err.message); return; }
    nv = bc_model_hparams(m)->n_vocab;
    for (i = 0; i < 20; i++) toks[i] = (int32_t)((i * 31u + 5u) % (uint32_t)nv);
    cp.n_ctx = 64;
    CHECK(bc_context_create(&cpu, m, &cp, &err) == BC_OK, "%s", err.message);
    cp.n_gpu_layers = -1;
    CHECK(bc_context_create(&gpu, m, &cp, &err) == BC_OK, "%s", err.message);
    if (cpu && gpu) {
        CHECK(bc_context_eval(cpu, toks, 19, NULL, &err) == BC_OK, "%s", err.message);
        CHECK(bc_context_eval(gpu, toks, 19, NULL, &err) == BC_OK, "%s", err.message);
        CHECK(bc_context_eval(cpu, toks + 19, 1, NULL, &err) == BC_OK, "%s", err.message);
        CHECK(bc_context_eval(gpu, toks + 19, 1, NULL, &err) == BC_OK, "%s", err.message);
        compare(bc_context_logits(cpu), bc_context_logits(gpu), 1, nv, &d);
        CHECK(d.max_abs <= 1e-3, "context hook max abs diff %g", d.max_abs);
        CHECK(bc_context_n_past(gpu) == 20, "n_past %d", bc_context_n_past(gpu));
    }
    bc_context_free(cpu);
    bc_context_free(gpu);
    bc_model_free(m);
}

/* without a device both entry points fail with BC_ERR_CUDA and a message, so callers can
   fall back to the CPU */
static void no_device(const char *path) {
    bc_model *m = NULL;
    bc_cuda_model *g = (bc_cuda_model *)&g;
    bc_context *c = NULL;
    bc_context_params cp = bc_context_default_params();
    bc_error err;
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) { SKIP("%s: %s", path, err.message); return; }
    err.message[0] = 0;
    CHECK(bc_cuda_model_create(&g, m, 64, &err) == BC_ERR_CUDA, "%s", err.message);
    CHECK(g == NULL && err.code == BC_ERR_CUDA && err.message[0] != 0, "out %p, message '%s'", (void *)g, err.message);
    cp.n_ctx = 64;
    cp.n_gpu_layers = -1;
    CHECK(bc_context_create(&c, m, &cp, &err) == BC_ERR_CUDA && c == NULL, "context with n_gpu_layers -1 and no device");
    cp.n_gpu_layers = 0;
    CHECK(bc_context_create(&c, m, &cp, &err) == BC_OK && c != NULL, "CPU fallback: %s", err.message);
    bc_context_free(c);
    bc_model_free(m);
}

int main(void) {
    static const char *models[] = {"b7-q", "b13-q", "tiny"};
    static const char *types[] = {"f32", "f16", "q8_0", "q4_0"};
    char path[256];
    int i, j;
    if (bc_cuda_device_count() <= 0) {
        no_device("build/b7-q-f32.gguf");
        SKIP("no CUDA device: the GPU-vs-CPU comparisons did not run");
        return bct_done();
    }
    for (i = 0; i < 3; i++)
        for (j = 0; j < 4; j++) {
            snprintf(path, sizeof path, "build/%s-%s.gguf", models[i], types[j]);
            run_model(path, types[j]);
        }
    run_model("build/b7-s2-f16.gguf", "f16");      /* widths that are not whole blocks */
    run_model("build/b13-s2-f16.gguf", "f16");
    run_model("build/b7-s2-bf16-bf16.gguf", "bf16");
    context_hook("build/b7-q-f32.gguf");
    return bct_done();
}
