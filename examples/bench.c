/* baichuan-bench: prefill and decode speed of a model file, llama-bench style.

     baichuan-bench -m MODEL.gguf [-t THREADS] [-p 512] [-n 128] [-r 3] [--kv-f16]
     baichuan-bench --membw [-t THREADS]        memory read bandwidth of this machine

   pp: one batch of -p random tokens into an empty cache; tg: -n single-token steps from an
   empty cache. Reports min / median / max tokens/s over -r repetitions and the peak RSS. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *test, double *tps, int r) {
    qsort(tps, (size_t)r, sizeof *tps, cmp_double);
    printf("| %-8s | %9.2f | %9.2f | %9.2f |\n", test, tps[0], tps[r / 2], tps[r - 1]);
}

typedef struct membw_task {
    const float *buf;
    size_t n;
    double sums[64];
} membw_task;

static void membw_part(void *arg, int ith, int nth) {
    membw_task *t = (membw_task *)arg;
    size_t i, a = t->n * (size_t)ith / (size_t)nth, b = t->n * (size_t)(ith + 1) / (size_t)nth;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (i = a; i + 4 <= b; i += 4) { s0 += t->buf[i]; s1 += t->buf[i + 1]; s2 += t->buf[i + 2]; s3 += t->buf[i + 3]; }
    t->sums[ith] = s0 + s1 + s2 + s3;
}

/* Reads a 2 GiB buffer with the library's own thread pool. */
static int run_membw(int threads) {
    size_t n = (size_t)512 << 20, i;
    membw_task t;
    bc__pool *pool = bc__pool_create(threads);
    float *buf = (float *)malloc(n * sizeof(float));
    double best = 0;
    int rep;
    if (!buf || !pool) { fprintf(stderr, "error: out of memory\n"); return 1; }
    for (i = 0; i < n; i++) buf[i] = (float)(i & 7);
    t.buf = buf;
    t.n = n;
    for (rep = 0; rep < 5; rep++) {
        double t0 = now_s(), gbs;
        bc__pool_run(pool, membw_part, &t);
        gbs = (double)(n * sizeof(float)) / (now_s() - t0) / (1024.0 * 1024.0 * 1024.0);
        if (gbs > best) best = gbs;
    }
    printf("memory read bandwidth, %d thread(s): %.1f GiB/s (best of 5 reads of 2 GiB)\n", threads, best);
    bc__pool_free(pool);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 0, pp = 512, tg = 128, reps = 3, kv_f16 = 0, membw = 0, i, r;
    bc_model *m;
    bc_context *c;
    bc_context_params cp;
    bc_error err;
    int32_t *toks;
    double *tps;
    struct stat st;
    struct rusage ru;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) tg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kv-f16")) kv_f16 = 1;
        else if (!strcmp(argv[i], "--membw")) membw = 1;
        else { fprintf(stderr, "usage: baichuan-bench -m MODEL.gguf [-t T] [-p 512] [-n 128] [-r 3] [--kv-f16] | --membw [-t T]\n"); return 2; }
    }
    if (membw) return run_membw(threads > 0 ? threads : 2);
    if (!path || pp < 0 || tg < 0 || reps < 1) { fprintf(stderr, "error: need -m MODEL.gguf\n"); return 2; }
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
    cp = bc_context_default_params();
    cp.n_threads = threads;
    cp.n_ctx = (pp > tg ? pp : tg) + 8;
    cp.n_batch = pp > 0 ? pp : 1;
    cp.kv_f16 = kv_f16;
    if (bc_context_create(&c, m, &cp, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
    toks = (int32_t *)malloc((size_t)(pp > tg ? pp : tg) * sizeof(int32_t) + 4);
    tps = (double *)malloc((size_t)reps * sizeof(double));
    srand(1);
    for (i = 0; i < (pp > tg ? pp : tg); i++) toks[i] = 3 + rand() % (bc_model_hparams(m)->n_vocab - 3);
    stat(path, &st);
    printf("model: %s (%.2f GiB), build: %s, threads: %d\n", path, (double)st.st_size / (1024.0 * 1024.0 * 1024.0), bc_build_info(),
           threads ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("| test     |   min t/s |   med t/s |   max t/s |\n|----------|-----------|-----------|-----------|\n");
    if (pp > 0) {
        bc_context_eval(c, toks, 1, NULL, &err); /* warm-up: page in the weights */
        for (r = 0; r < reps; r++) {
            double t0;
            bc_context_rewind(c, 0);
            t0 = now_s();
            if (bc_context_eval(c, toks, pp, NULL, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
            tps[r] = pp / (now_s() - t0);
        }
        { char name[32]; snprintf(name, sizeof name, "pp%d", pp); report(name, tps, reps); }
    }
    if (tg > 0) {
        for (r = 0; r < reps; r++) {
            double t0;
            bc_context_rewind(c, 0);
            t0 = now_s();
            for (i = 0; i < tg; i++)
                if (bc_context_eval(c, toks + i, 1, NULL, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
            tps[r] = tg / (now_s() - t0);
        }
        { char name[32]; snprintf(name, sizeof name, "tg%d", tg); report(name, tps, reps); }
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.2f GiB\n", (double)ru.ru_maxrss / (1024.0 * 1024.0));
    free(toks);
    free(tps);
    bc_context_free(c);
    bc_model_free(m);
    return 0;
}
