/* baichuan-bench-cuda: prefill and decode tokens/s of the GPU path, and the fraction of the
   device's memory bandwidth (measured here with a device-to-device copy) that decode reaches.
   usage: baichuan-bench-cuda -m MODEL.gguf [-p 512] [-n 128] [-r 3] */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* bytes read + written per second by cudaMemcpy device to device of 1 GiB */
static double device_bandwidth(void) {
    size_t n = (size_t)1 << 30;
    void *a, *b;
    double t0, t = 1e30;
    int i;
    if (cudaMalloc(&a, n) != cudaSuccess) return 0;
    if (cudaMalloc(&b, n) != cudaSuccess) { cudaFree(a); return 0; }
    cudaMemset(a, 1, n);
    cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    for (i = 0; i < 5; i++) {
        t0 = now();
        cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
        cudaDeviceSynchronize();
        if (now() - t0 < t) t = now() - t0;
    }
    cudaFree(a);
    cudaFree(b);
    return 2.0 * (double)n / t;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int pp = 512, tg = 128, reps = 3, i, r;
    bc_model *m;
    bc_cuda_model *g;
    bc_error err;
    const bc_hparams *hp;
    int32_t *toks;
    float *logits;
    double best_pp = 1e30, best_tg = 1e30, bw, weight_bytes = 0, t0;
    static const char *names[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) tg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else { fprintf(stderr, "usage: baichuan-bench-cuda -m MODEL.gguf [-p 512] [-n 128] [-r 3]\n"); return 2; }
    }
    if (!path || pp < 1 || tg < 1 || reps < 1) { fprintf(stderr, "usage: baichuan-bench-cuda -m MODEL.gguf [-p 512] [-n 128] [-r 3]\n"); return 2; }
    if (bc_model_load(&m, path, NULL, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
    hp = bc_model_hparams(m);
    t0 = now();
    if (bc_cuda_model_create(&g, m, pp + tg, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
    fprintf(stderr, "upload: %.2f s\n", now() - t0);
    /* bytes decode must read per token: every layer matrix plus the output head */
    for (i = 0; i < hp->n_layer; i++) {
        char name[64];
        bc_tensor_view v;
        int k;
        for (k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", i, names[k]);
            if (bc_model_tensor(m, name, &v) == BC_OK) weight_bytes += (double)v.nbytes;
        }
    }
    {
        bc_tensor_view v;
        if (bc_model_tensor(m, "output.weight", &v) == BC_OK) weight_bytes += (double)v.nbytes;
    }
    toks = (int32_t *)malloc((size_t)(pp + tg) * 4);
    logits = (float *)malloc((size_t)hp->n_vocab * 4);
    srand(1);
    for (i = 0; i < pp + tg; i++) toks[i] = rand() % hp->n_vocab;
    for (r = 0; r <= reps; r++) { /* the first round warms up */
        double t;
        t0 = now();
        if (bc_cuda_eval(g, toks, pp, 0, NULL, logits, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
        t = now() - t0;
        if (r > 0 && t < best_pp) best_pp = t;
        t0 = now();
        for (i = 0; i < tg; i++)
            if (bc_cuda_eval(g, toks + pp + i, 1, pp + i, NULL, logits, &err) != BC_OK) { fprintf(stderr, "error: %s\n", err.message); return 1; }
        t = now() - t0;
        if (r > 0 && t < best_tg) best_tg = t;
    }
    bw = device_bandwidth();
    printf("model %s: %d layers, n_embd %d, weights read per token %.2f GiB\n", path, hp->n_layer, hp->n_embd, weight_bytes / 1073741824.0);
    printf("prefill pp%d: %.1f tokens/s\n", pp, pp / best_pp);
    printf("decode tg%d: %.1f tokens/s (%.2f ms/token), %.0f GB/s of weights\n", tg, tg / best_tg, best_tg / tg * 1e3,
           weight_bytes * tg / best_tg / 1e9);
    if (bw > 0)
        printf("device copy bandwidth %.0f GB/s: decode reaches %.1f%% of it\n", bw / 1e9, 100.0 * weight_bytes * tg / best_tg / bw);
    bc_cuda_model_free(g);
    bc_model_free(m);
    free(toks);
    free(logits);
    return 0;
}
