/* Every SIMD kernel against the scalar reference at sizes with tails and odd shapes, and
   the thread pool: each share run exactly once, results identical for 1..4 threads. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f; }

/* Tolerance per kernel: the integer block sums are exact; what differs is the order of the
   float accumulation, bounded relative to sum |w_i x_i| (computed in double). */
static void check_type(bc_type type, int64_t rows, int64_t k, int64_t n_tok) {
    int64_t i, t;
    uint64_t rb = bc_tensor_nbytes(type, k);
    float *wf = (float *)malloc((size_t)(rows * k) * 4), *x = (float *)malloc((size_t)(n_tok * k) * 4), *wd = (float *)malloc((size_t)k * 4);
    float *y = (float *)malloc((size_t)(n_tok * rows) * 4), *yref = (float *)malloc((size_t)(n_tok * rows) * 4), *y1 = (float *)malloc((size_t)(n_tok * rows) * 4);
    uint8_t *wq = (uint8_t *)malloc((size_t)(rb * rows));
    void *scr = malloc(bc__matmul_scratch_size(k, n_tok));
    bc__weight w;
    bc__pool *p1 = bc__pool_create(1), *p3 = bc__pool_create(3);
    double worst = 0;
    for (i = 0; i < rows * k; i++) wf[i] = frand();
    for (i = 0; i < n_tok * k; i++) x[i] = frand() * 3;
    for (i = 0; i < rows; i++) bc_quantize_row(type, wf + i * k, wq + i * rb, k);
    w.type = type; w.rows = rows; w.cols = k; w.row_bytes = rb; w.data = wq;
    bc__matmul_ref(p1, &w, x, n_tok, yref, scr);
    bc__matmul(p3, &w, x, n_tok, y, scr);
    bc__matmul(p1, &w, x, n_tok, y1, scr);
    for (t = 0; t < n_tok; t++)
        for (i = 0; i < rows; i++) {
            double mag = 0, d;
            int64_t c;
            bc_dequantize_row(type, wq + i * rb, wd, k);
            for (c = 0; c < k; c++) mag += fabs((double)wd[c] * x[t * k + c]);
            d = fabs(y[t * rows + i] - yref[t * rows + i]) / (mag + 1e-30);
            if (d > worst) worst = d;
        }
    CHECK(worst <= 1e-5, "%s rows %lld k %lld tokens %lld: relative error %g vs the reference", bc_type_name(type), (long long)rows, (long long)k, (long long)n_tok, worst);
    CHECK(memcmp(y, y1, (size_t)(n_tok * rows) * 4) == 0, "%s rows %lld k %lld: 1 and 3 threads differ", bc_type_name(type), (long long)rows, (long long)k);
    bc__pool_free(p1); bc__pool_free(p3);
    free(wf); free(x); free(wd); free(y); free(yref); free(y1); free(wq); free(scr);
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
    check_pool();
    return bct_done();
}
