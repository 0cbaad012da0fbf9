/* Every SIMD kernel against the scalar reference at sizes with tails and odd shapes, and
   the thread pool: each share run exactly once, results identical for 1..4 threads. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f; }

/* Tolerance per kernel: the integer block sums are exact; what differs is the order of the
   float accumulation, bounded relative to sum |w_i x_i| (computed in double). */
static double worst_error(bc_type type, const uint8_t *wq, uint64_t rb, int64_t rows, int64_t k, int64_t n_tok, const float *x,
                          const float *y, const float *yref, float *wd) {
    double worst = 0;
    int64_t t, i, c;
    for (i = 0; i < rows; i++) {
        bc_dequantize_row(type, wq + i * rb, wd, k);
        for (t = 0; t < n_tok; t++) {
            double mag = 0, d;
            for (c = 0; c < k; c++) mag += fabs((double)wd[c] * x[t * k + c]);
            d = fabs(y[t * rows + i] - yref[t * rows + i]) / (mag + 1e-30);
            if (d > worst) worst = d;
        }
    }
    return worst;
}

/* Tolerance per kernel: the integer block sums are exact; what differs is the order of the
   float accumulation (and, for quantized weights, where the offset correction is applied),
   bounded relative to sum |w_i x_i| (computed in double). Checked in the file layout and,
   for q4_0 / q8_0, repacked for the 512-bit kernels. */
static void check_type(bc_type type, int64_t rows, int64_t k, int64_t n_tok) {
    int64_t i;
    uint64_t rb = bc_tensor_nbytes(type, k);
    size_t ny = (size_t)(n_tok * rows) * 4;
    float *wf = (float *)malloc((size_t)(rows * k) * 4), *x = (float *)malloc((size_t)(n_tok * k) * 4), *wd = (float *)malloc((size_t)k * 4);
    float *y = (float *)malloc(ny), *yref = (float *)malloc(ny), *y1 = (float *)malloc(ny), *yp = (float *)malloc(ny), *yp1 = (float *)malloc(ny);
    uint8_t *wq = (uint8_t *)malloc((size_t)(rb * rows));
    void *scr = malloc(bc__matmul_scratch_size(k, n_tok));
    bc__weight w;
    bc__pool *p1 = bc__pool_create(1), *p3 = bc__pool_create(3);
    bc_error err;
    double worst;
    for (i = 0; i < rows * k; i++) wf[i] = frand();
    for (i = 0; i < n_tok * k; i++) x[i] = frand() * 3;
    for (i = 0; i < rows; i++) bc_quantize_row(type, wf + i * k, wq + i * rb, k);
    memset(&w, 0, sizeof w);
    w.type = type; w.rows = rows; w.cols = k; w.row_bytes = rb; w.data = wq;
    bc__matmul_ref(p1, &w, x, n_tok, yref, scr);
    bc__matmul(p3, &w, x, n_tok, y, scr);
    bc__matmul(p1, &w, x, n_tok, y1, scr);
    worst = worst_error(type, wq, rb, rows, k, n_tok, x, y, yref, wd);
    CHECK(worst <= 1e-5, "%s rows %lld k %lld tokens %lld: relative error %g vs the reference", bc_type_name(type), (long long)rows, (long long)k, (long long)n_tok, worst);
    CHECK(memcmp(y, y1, ny) == 0, "%s rows %lld k %lld: 1 and 3 threads differ", bc_type_name(type), (long long)rows, (long long)k);
    CHECK(bc__weight_pack(&w, 0, &err) == BC_OK, "pack: %s", err.message);
    if (w.packed) {
        bc__matmul(p3, &w, x, n_tok, yp, scr);
        bc__matmul(p1, &w, x, n_tok, yp1, scr);
        worst = worst_error(type, wq, rb, rows, k, n_tok, x, yp, yref, wd);
        CHECK(worst <= 1e-5, "packed %s rows %lld k %lld tokens %lld: relative error %g vs the reference", bc_type_name(type), (long long)rows, (long long)k, (long long)n_tok, worst);
        CHECK(memcmp(yp, yp1, ny) == 0, "packed %s rows %lld k %lld: 1 and 3 threads differ", bc_type_name(type), (long long)rows, (long long)k);
        bc__weight_unpack(&w);
    }
    bc__pool_free(p1); bc__pool_free(p3);
    free(wf); free(x); free(wd); free(y); free(yref); free(y1); free(yp); free(yp1); free(wq); free(scr);
}

/* The vectorised activation quantizer against bc_quantize_row_q8_0_ref, byte for byte,
   including exact .5 ties after scaling, zeros and one-hot blocks. */
static void check_quantize(void) {
    enum { K = 32 * 40 };
    static float x[K];
    static bc_block_q8_0 ref[K / 32];
    static int8_t qs[K];
    static float d[K / 32], dsum[K / 32], ncorr[K / 32];
    int i, b, j, same = 1, sums = 1;
    for (i = 0; i < K; i++) x[i] = frand() * 10;
    for (i = 32; i < 64; i++) x[i] = 0.0f;                       /* all-zero block */
    for (i = 64; i < 96; i++) x[i] = (float)(i - 80) * 0.5f;     /* ties: amax 8, d*127 = 8 */
    for (i = 96; i < 128; i++) x[i] = 127.0f * (i == 100) + 0.5f * (float)(i % 3);
    for (i = 128; i < 160; i++) x[i] = -1e-30f * (float)i;       /* tiny values */
    bc_quantize_row_q8_0_ref(x, ref, K);
    bc__quantize_act_row(x, K, qs, d, dsum, ncorr, 8.0f);
    for (b = 0; b < K / 32; b++) {
        int s = 0;
        if (d[b] != bc_fp16_to_f32(ref[b].d)) same = 0;
        for (j = 0; j < 32; j++) {
            if (qs[b * 32 + j] != ref[b].qs[j]) same = 0;
            s += ref[b].qs[j];
        }
        if (dsum[b] != d[b] * (float)s || ncorr[b] != -8.0f * dsum[b]) sums = 0;
    }
    CHECK(same, "activation quantization equals bc_quantize_row_q8_0_ref byte for byte");
    CHECK(sums, "block sums d * sum(q) and the q4_0 correction -8 d sum(q)");
}

/* The f32 / f16 helpers attention uses, against the references (float order differs). */
static void check_vec(void) {
    static const int ns[6] = {1, 7, 8, 33, 128, 4096 + 5};
    int a, i;
    for (a = 0; a < 6; a++) {
        int n = ns[a];
        float *x = (float *)malloc((size_t)n * 4), *y = (float *)malloc((size_t)n * 4), *m1 = (float *)malloc((size_t)n * 4), *m2 = (float *)malloc((size_t)n * 4);
        uint16_t *h = (uint16_t *)malloc((size_t)n * 2), *bf = (uint16_t *)malloc((size_t)n * 2);
        double mag = 0, mag16 = 0, worst = 0;
        int mad_ok = 1;
        for (i = 0; i < n; i++) {
            x[i] = frand(); y[i] = frand(); h[i] = bc_f32_to_fp16(frand()); bf[i] = bc_f32_to_bf16(frand());
            mag += fabs((double)x[i] * y[i]);
            mag16 += fabs((double)bc_fp16_to_f32(h[i]) * y[i]) + fabs((double)bc_bf16_to_f32(bf[i]) * y[i]);
            m1[i] = m2[i] = y[i];
        }
        worst = fabs(bc__vec_dot_f32(x, y, n) - bc__vec_dot_f32_ref(x, y, n)) / mag;
        CHECK(worst <= 1e-6, "vec_dot_f32 n=%d: relative error %g", n, worst);
        worst = fabs(bc__vec_dot_f16_f32(h, y, n) - bc__vec_dot_f16_f32_ref(h, y, n)) / mag16;
        CHECK(worst <= 1e-6, "vec_dot_f16_f32 n=%d: relative error %g", n, worst);
        worst = fabs(bc__vec_dot_bf16_f32(bf, y, n) - bc__vec_dot_bf16_f32_ref(bf, y, n)) / mag16;
        CHECK(worst <= 1e-6, "vec_dot_bf16_f32 n=%d: relative error %g", n, worst);
        /* one multiply-add per element, fused or not: within one rounding of each */
        bc__vec_mad_f32(m1, x, 0.37f, n);
        bc__vec_mad_f32_ref(m2, x, 0.37f, n);
        for (i = 0; i < n; i++) if (fabsf(m1[i] - m2[i]) > 1.2e-7f * (fabsf(m2[i]) + fabsf(0.37f * x[i]))) mad_ok = 0;
        for (i = 0; i < n; i++) m1[i] = m2[i] = y[i];
        bc__vec_mad_f16(m1, h, -1.5f, n);
        bc__vec_mad_f16_ref(m2, h, -1.5f, n);
        for (i = 0; i < n; i++) if (fabsf(m1[i] - m2[i]) > 1.2e-7f * (fabsf(m2[i]) + fabsf(1.5f * bc_fp16_to_f32(h[i])))) mad_ok = 0;
        CHECK(mad_ok, "vec_mad_f32 / vec_mad_f16 n=%d within one rounding of the reference", n);
        free(x); free(y); free(m1); free(m2); free(h); free(bf);
    }
}

typedef struct count_task { int hits[16]; int nth_seen; } count_task;
static void count_fn(void *arg, int ith, int nth) {
    count_task *c = (count_task *)arg;
    c->hits[ith]++;
    c->nth_seen = nth;
}

static void check_pool(void) {
    int n, run, i, ok = 1;
    for (n = 1; n <= 4; n++) {
        bc__pool *p = bc__pool_create(n);
        count_task c;
#ifdef BC_NO_THREADS
        int shares = 1; /* single-threaded builds run one share on the caller */
#else
        int shares = n;
#endif
        memset(&c, 0, sizeof c);
        for (run = 0; run < 2000; run++) bc__pool_run(p, count_fn, &c);
        for (i = 0; i < 16; i++) if (c.hits[i] != (i < shares ? 2000 : 0)) ok = 0;
        CHECK(ok && c.nth_seen == shares, "pool of %d: every share once per run", n);
        bc__pool_free(p);
    }
}

int main(void) {
    static const bc_type types[5] = {BC_TYPE_Q4_0, BC_TYPE_Q8_0, BC_TYPE_F16, BC_TYPE_BF16, BC_TYPE_F32};
    static const int64_t ks[5] = {32, 64, 96, 4096 + 32, 352};
    static const int64_t rows[4] = {1, 5, 67, 130};
    static const int64_t toks[5] = {1, 2, 7, 9, 17};
    int a, b, c;
    printf("kernels: %s\n", bc_build_info());
    for (a = 0; a < 5; a++)
        for (b = 0; b < 5; b++)
            for (c = 0; c < 4; c++) check_type(types[a], rows[c], ks[b], toks[(a + b + c) % 5]);
    check_type(BC_TYPE_Q4_0, 129, 4096, 64);
    check_type(BC_TYPE_Q8_0, 48, 4096 + 32, 9);
    check_type(BC_TYPE_Q4_0, 16, 96, 3);
    check_type(BC_TYPE_Q8_0, 272, 64, 8);
    check_quantize();
    check_vec();
    check_pool();
    return bct_done();
}
