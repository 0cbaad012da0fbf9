/* baichuan_cuda.cu: optional GPU offload for baichuan.h (section 9).

   Build: compile this file with nvcc, compile the program that defines
   BAICHUAN_IMPLEMENTATION with -DBC_CUDA, link both with -lcudart -lcublas.
   Weights are read through the public API (bc_model_hparams, bc_model_tensor), uploaded once
   in their file format; the KV cache (f32) and the whole forward pass live on the device and
   only logits come back. The math follows the CPU engine in baichuan.h step by step. */

#define BC_CUDA
#include "baichuan.h"

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BC__CU_BATCH 512      /* tokens per forward chunk */
#define BC__CU_TILE (1 << 25) /* dequantised f32 elements per prefill GEMM tile (128 MiB) */

typedef struct bc__dweight {
    bc_type type;
    int64_t rows, cols, row_bytes;
    void *d;
} bc__dweight;

typedef struct bc__dlayer {
    float *attn_norm, *ffn_norm;
    bc__dweight wq, wk, wv, wo, gate, up, down;
} bc__dlayer;

struct bc_cuda_model {
    bc_hparams hp;
    int32_t n_ctx;
    bc__dweight tok_embd, output;
    bc__dlayer *layers;
    float *output_norm, *out_scale, *alibi, *inv_freq;
    float *k_cache, *v_cache;
    float *x, *xb, *q, *k, *v, *att, *ffa, *ffb, *logits, *tile;
    int32_t *tokens;
    size_t attn_smem_max;
    cublasHandle_t blas;
    cudaStream_t stream;
};

static bc_result bc__cu_fail(bc_error *err, bc_result code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define BC__CU(call) do { cudaError_t e_ = (call); \
        if (e_ != cudaSuccess) return bc__cu_fail(err, BC_ERR_CUDA, "CUDA: %s (%s)", cudaGetErrorString(e_), #call); } while (0)
#define BC__BLAS(call) do { cublasStatus_t s_ = (call); \
        if (s_ != CUBLAS_STATUS_SUCCESS) return bc__cu_fail(err, BC_ERR_CUDA, "cuBLAS error %d (%s)", (int)s_, #call); } while (0)

/* ---- element access for every weight type ------------------------------------------ */

__device__ __forceinline__ float bc__cu_h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bc__cu_bf2f(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }

__device__ __forceinline__ float bc__cu_load(bc_type t, const uint8_t *row, int64_t i) {
    switch (t) {
    case BC_TYPE_F32: return ((const float *)row)[i];
    case BC_TYPE_F16: return bc__cu_h2f(((const uint16_t *)row)[i]);
    case BC_TYPE_BF16: return bc__cu_bf2f(((const uint16_t *)row)[i]);
    case BC_TYPE_Q8_0: {
        const uint8_t *b = row + (i / 32) * 34;
        return bc__cu_h2f(*(const uint16_t *)b) * (float)(int8_t)b[2 + i % 32];
    }
    default: { /* Q4_0: byte j holds element j (low nibble) and j+16 (high) */
        const uint8_t *b = row + (i / 32) * 18;
        int j = (int)(i % 32);
        int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return bc__cu_h2f(*(const uint16_t *)b) * (float)(q - 8);
    }
    }
}

/* rows r0..r0+nr-1 of w as f32, row-major [nr][cols] */
__global__ void bc__cu_dequant_rows(bc_type t, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t r0, int64_t nr, float *out) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, n = nr * cols;
    for (; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / cols, c = i % cols;
        out[i] = bc__cu_load(t, w + (r0 + r) * row_bytes, c);
    }
}

__global__ void bc__cu_embed(bc_type t, const uint8_t *w, int64_t row_bytes, int64_t cols, const int32_t *tokens, float *x) {
    int64_t tok = blockIdx.x;
    const uint8_t *row = w + (int64_t)tokens[tok] * row_bytes;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) x[tok * cols + c] = bc__cu_load(t, row, c);
}

/* ---- matrix-vector (decode): one warp per output row ------------------------------ */

__device__ __forceinline__ float bc__cu_warp_sum(float s) {
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

#define BC__CU_MV_WARPS 4

/* Q4_0: two lanes per 18-byte block, each takes 8 bytes of nibbles (16 weights). */
__global__ void bc__cu_mv_q4_0(const uint8_t *w, int64_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    int64_t r = (int64_t)blockIdx.x * BC__CU_MV_WARPS + threadIdx.y;
    int lane = threadIdx.x;
    float s = 0.0f;
    if (r >= rows) return;
    const uint8_t *row = w + r * row_bytes;
    int64_t nh = cols / 16;
    for (int64_t h = lane; h < nh; h += 32) {
        const uint8_t *b = row + (h >> 1) * 18;
        int part = (int)(h & 1);
        const uint16_t *qs = (const uint16_t *)(b + 2 + part * 8);
        float d = bc__cu_h2f(*(const uint16_t *)b);
        const float *xl = x + (h >> 1) * 32 + part * 8;
        float4 a0 = *(const float4 *)(xl), a1 = *(const float4 *)(xl + 4);
        float4 b0 = *(const float4 *)(xl + 16), b1 = *(const float4 *)(xl + 20);
        uint16_t u0 = qs[0], u1 = qs[1], u2 = qs[2], u3 = qs[3];
        float lo = 0.0f, hi = 0.0f;
        lo += a0.x * (float)((int)(u0 & 15) - 8) + a0.y * (float)((int)((u0 >> 8) & 15) - 8);
        hi += b0.x * (float)((int)((u0 >> 4) & 15) - 8) + b0.y * (float)((int)(u0 >> 12) - 8);
        lo += a0.z * (float)((int)(u1 & 15) - 8) + a0.w * (float)((int)((u1 >> 8) & 15) - 8);
        hi += b0.z * (float)((int)((u1 >> 4) & 15) - 8) + b0.w * (float)((int)(u1 >> 12) - 8);
        lo += a1.x * (float)((int)(u2 & 15) - 8) + a1.y * (float)((int)((u2 >> 8) & 15) - 8);
        hi += b1.x * (float)((int)((u2 >> 4) & 15) - 8) + b1.y * (float)((int)(u2 >> 12) - 8);
        lo += a1.z * (float)((int)(u3 & 15) - 8) + a1.w * (float)((int)((u3 >> 8) & 15) - 8);
        hi += b1.z * (float)((int)((u3 >> 4) & 15) - 8) + b1.w * (float)((int)(u3 >> 12) - 8);
        s += d * (lo + hi);
    }
    s = bc__cu_warp_sum(s);
    if (lane == 0) y[r] = s;
}

/* Q8_0: two lanes per 34-byte block, 16 weights each. */
__global__ void bc__cu_mv_q8_0(const uint8_t *w, int64_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    int64_t r = (int64_t)blockIdx.x * BC__CU_MV_WARPS + threadIdx.y;
    int lane = threadIdx.x;
    float s = 0.0f;
    if (r >= rows) return;
    const uint8_t *row = w + r * row_bytes;
    int64_t nh = cols / 16;
    for (int64_t h = lane; h < nh; h += 32) {
        const uint8_t *b = row + (h >> 1) * 34;
        const uint16_t *qs = (const uint16_t *)(b + 2 + (h & 1) * 16);
        float d = bc__cu_h2f(*(const uint16_t *)b), acc = 0.0f;
        const float4 *xl = (const float4 *)(x + h * 16);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float4 a = xl[i];
            uint16_t u0 = qs[2 * i], u1 = qs[2 * i + 1];
            acc += a.x * (float)(int8_t)(u0 & 255) + a.y * (float)(int8_t)(u0 >> 8) + a.z * (float)(int8_t)(u1 & 255) +
                   a.w * (float)(int8_t)(u1 >> 8);
        }
        s += d * acc;
    }
    s = bc__cu_warp_sum(s);
    if (lane == 0) y[r] = s;
}

/* F32 / F16 / BF16: lanes stride the row's elements. */
__global__ void bc__cu_mv_float(bc_type t, const uint8_t *w, int64_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    int64_t r = (int64_t)blockIdx.x * BC__CU_MV_WARPS + threadIdx.y;
    int lane = threadIdx.x;
    float s = 0.0f;
    if (r >= rows) return;
    const uint8_t *row = w + r * row_bytes;
    if (t == BC_TYPE_F16) {
        const uint16_t *p = (const uint16_t *)row;
        for (int64_t c = lane; c < cols; c += 32) s += bc__cu_h2f(p[c]) * x[c];
    } else if (t == BC_TYPE_BF16) {
        const uint16_t *p = (const uint16_t *)row;
        for (int64_t c = lane; c < cols; c += 32) s += bc__cu_bf2f(p[c]) * x[c];
    } else {
        const float *p = (const float *)row;
        for (int64_t c = lane; c < cols; c += 32) s += p[c] * x[c];
    }
    s = bc__cu_warp_sum(s);
    if (lane == 0) y[r] = s;
}

/* y[n][rows] = x[n][cols] w^T */
static bc_result bc__cu_matmul(bc_cuda_model *g, const bc__dweight *w, const float *x, int32_t n, float *y, bc_error *err) {
    if (n == 1) {
        dim3 blk(32, BC__CU_MV_WARPS);
        unsigned grid = (unsigned)((w->rows + BC__CU_MV_WARPS - 1) / BC__CU_MV_WARPS);
        if (w->type == BC_TYPE_Q4_0)
            bc__cu_mv_q4_0<<<grid, blk, 0, g->stream>>>((const uint8_t *)w->d, w->row_bytes, w->rows, w->cols, x, y);
        else if (w->type == BC_TYPE_Q8_0)
            bc__cu_mv_q8_0<<<grid, blk, 0, g->stream>>>((const uint8_t *)w->d, w->row_bytes, w->rows, w->cols, x, y);
        else
            bc__cu_mv_float<<<grid, blk, 0, g->stream>>>(w->type, (const uint8_t *)w->d, w->row_bytes, w->rows, w->cols, x, y);
        BC__CU(cudaGetLastError());
        return BC_OK;
    }
    /* prefill: dequantise a tile of rows to f32, then an f32 GEMM (no TF32: CPU fidelity) */
    int64_t tile_rows = BC__CU_TILE / w->cols;
    const float one = 1.0f, zero = 0.0f;
    if (tile_rows < 1) tile_rows = 1;
    for (int64_t r0 = 0; r0 < w->rows; r0 += tile_rows) {
        int64_t nr = w->rows - r0 < tile_rows ? w->rows - r0 : tile_rows;
        const float *wt;
        if (w->type == BC_TYPE_F32) {
            wt = (const float *)((const uint8_t *)w->d + r0 * w->row_bytes);
        } else {
            int64_t tot = nr * w->cols;
            unsigned blocks = (unsigned)((tot + 255) / 256 < 65536 ? (tot + 255) / 256 : 65536);
            bc__cu_dequant_rows<<<blocks, 256, 0, g->stream>>>(w->type, (const uint8_t *)w->d, w->row_bytes, w->cols, r0, nr, g->tile);
            BC__CU(cudaGetLastError());
            wt = g->tile;
        }
        BC__BLAS(cublasSgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, n, (int)w->cols, &one, wt, (int)w->cols, x, (int)w->cols,
                             &zero, y + r0, (int)w->rows));
    }
    return BC_OK;
}

/* ---- elementwise and normalisation ------------------------------------------------ */

/* RMSNorm per token (one block each), the sum of squares in double like the CPU. */
__global__ void bc__cu_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    __shared__ double part[32];
    const float *xr = x + blockIdx.x * n;
    float *orow = out + blockIdx.x * n;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += (double)xr[i] * xr[i];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += part[i];
        part[0] = t;
    }
    __syncthreads();
    float scale = 1.0f / sqrtf((float)(part[0] / (double)n) + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) orow[i] = w[i] * (xr[i] * scale);
}

/* interleaved-pair rotary embedding on q and k, n tokens from position pos0 */
__global__ void bc__cu_rope(float *q, float *k, const float *inv_freq, int n_tok, int n_head, int hd, int32_t pos0) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t half = hd / 2, per_tok = (int64_t)n_head * half;
    if (i >= per_tok * n_tok) return;
    int64_t t = i / per_tok, rem = i % per_tok, h = rem / half, p = rem % half;
    float angle = (float)(pos0 + t) * inv_freq[p];
    float c = cosf(angle), s = sinf(angle);
    int64_t off = t * n_head * hd + h * hd + 2 * p;
    float x0 = q[off], x1 = q[off + 1];
    q[off] = x0 * c - x1 * s;
    q[off + 1] = x0 * s + x1 * c;
    x0 = k[off]; x1 = k[off + 1];
    k[off] = x0 * c - x1 * s;
    k[off + 1] = x0 * s + x1 * c;
}

__global__ void bc__cu_add(float *x, const float *y, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void bc__cu_swiglu(float *a, const float *b, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { float v = a[i]; a[i] = v / (1.0f + expf(-v)) * b[i]; }
}

__global__ void bc__cu_scale_rows(float *y, const float *scale, int64_t n_vocab, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] *= scale[i % n_vocab];
}

/* ---- attention: one block per (token, head) ---------------------------------------- */

#define BC__CU_ATT_THREADS 128

/* softmax(q k^T / sqrt(d) + causal mask [+ slope * (j - i)]) v, scores in shared memory */
__global__ void bc__cu_attention(const float *q, const float *kc, const float *vc, float *out, const float *alibi, int n_head, int hd,
                                 int32_t pos0) {
    extern __shared__ float sm[];
    __shared__ float red[BC__CU_ATT_THREADS / 32];
    int tok = blockIdx.x / n_head, h = blockIdx.x % n_head;
    int64_t e = (int64_t)n_head * hd;
    int32_t qpos = pos0 + tok;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = BC__CU_ATT_THREADS / 32;
    const float *qh = q + tok * e + h * hd;
    float scale = 1.0f / sqrtf((float)hd), slope = alibi ? alibi[h] : 0.0f;
    for (int32_t j = warp; j <= qpos; j += nw) {
        const float *kr = kc + (int64_t)j * e + h * hd;
        float s = 0.0f;
        for (int d = lane; d < hd; d += 32) s += qh[d] * kr[d];
        s = bc__cu_warp_sum(s);
        if (lane == 0) sm[j] = s * scale + slope * (float)(j - qpos);
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int32_t j = threadIdx.x; j <= qpos; j += BC__CU_ATT_THREADS) mx = fmaxf(mx, sm[j]);
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = red[0];
    for (int i = 1; i < nw; i++) mx = fmaxf(mx, red[i]);
    __syncthreads();
    float sum = 0.0f;
    for (int32_t j = threadIdx.x; j <= qpos; j += BC__CU_ATT_THREADS) {
        float p = expf(sm[j] - mx);
        sm[j] = p;
        sum += p;
    }
    sum = bc__cu_warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    sum = 0.0f;
    for (int i = 0; i < nw; i++) sum += red[i];
    float inv = 1.0f / sum;
    for (int d = threadIdx.x; d < hd; d += BC__CU_ATT_THREADS) {
        float acc = 0.0f;
        for (int32_t j = 0; j <= qpos; j++) acc += sm[j] * vc[(int64_t)j * e + h * hd + d];
        out[tok * e + h * hd + d] = acc * inv;
    }
}

/* ---- model upload ---------------------------------------------------------------- */

static bc_result bc__cu_upload(const void *src, uint64_t nbytes, void **dst, bc_error *err) {
    BC__CU(cudaMalloc(dst, nbytes ? nbytes : 1));
    BC__CU(cudaMemcpy(*dst, src, nbytes, cudaMemcpyHostToDevice));
    return BC_OK;
}

static bc_result bc__cu_weight(const bc_model *m, const char *name, int64_t cols, int64_t rows, bc__dweight *w, bc_error *err) {
    bc_tensor_view v;
    bc_result r = bc_model_tensor(m, name, &v);
    if (r != BC_OK) return bc__cu_fail(err, r, "model has no tensor '%s'", name);
    if (v.ne[0] != cols || (v.n_dims > 1 ? v.ne[1] : 1) != rows)
        return bc__cu_fail(err, BC_ERR_SHAPE, "tensor '%s' has an unexpected shape", name);
    if (v.type != BC_TYPE_F32 && v.type != BC_TYPE_F16 && v.type != BC_TYPE_BF16 && v.type != BC_TYPE_Q8_0 && v.type != BC_TYPE_Q4_0)
        return bc__cu_fail(err, BC_ERR_UNSUPPORTED, "tensor '%s' has a type the CUDA path does not support", name);
    if ((v.type == BC_TYPE_Q8_0 || v.type == BC_TYPE_Q4_0) && cols % 32 != 0)
        return bc__cu_fail(err, BC_ERR_SHAPE, "tensor '%s': %lld columns are not whole blocks", name, (long long)cols);
    w->type = v.type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = (int64_t)(v.nbytes / (uint64_t)rows);
    return bc__cu_upload(v.data, v.nbytes, &w->d, err);
}

static bc_result bc__cu_norm(const bc_model *m, const char *name, int64_t n, float **out, bc_error *err) {
    bc_tensor_view v;
    if (bc_model_tensor(m, name, &v) != BC_OK) return bc__cu_fail(err, BC_ERR_SHAPE, "model has no tensor '%s'", name);
    if (v.type != BC_TYPE_F32 || v.ne[0] != n) return bc__cu_fail(err, BC_ERR_SHAPE, "tensor '%s' must be f32 [%lld]", name, (long long)n);
    return bc__cu_upload(v.data, (uint64_t)n * 4, (void **)out, err);
}

static bc_result bc__cu_alloc(float **p, uint64_t n_floats, bc_error *err) {
    BC__CU(cudaMalloc((void **)p, n_floats > 0 ? n_floats * 4 : 4));
    return BC_OK;
}

static bc_result bc__cu_create(bc_cuda_model *g, const bc_model *m, bc_error *err) {
    const bc_hparams *hp = &g->hp;
    int64_t e = hp->n_embd, ff = hp->n_ff, b = BC__CU_BATCH, kv = (int64_t)hp->n_layer * g->n_ctx * e;
    int hd = hp->n_embd / hp->n_head, l;
    char name[96];
    bc_result r;
    const float *scale = bc_model_output_scale(m);
    BC__CU(cudaStreamCreate(&g->stream));
    BC__BLAS(cublasCreate(&g->blas));
    BC__BLAS(cublasSetStream(g->blas, g->stream));
    BC__BLAS(cublasSetMathMode(g->blas, CUBLAS_PEDANTIC_MATH));
    if ((r = bc__cu_weight(m, "token_embd.weight", e, hp->n_vocab, &g->tok_embd, err)) != BC_OK) return r;
    if ((r = bc__cu_weight(m, "output.weight", e, hp->n_vocab, &g->output, err)) != BC_OK) return r;
    if ((r = bc__cu_norm(m, "output_norm.weight", e, &g->output_norm, err)) != BC_OK) return r;
    g->layers = (bc__dlayer *)calloc((size_t)hp->n_layer, sizeof(bc__dlayer));
    if (!g->layers) return bc__cu_fail(err, BC_ERR_NOMEM, "out of memory");
    for (l = 0; l < hp->n_layer; l++) {
        bc__dlayer *L = &g->layers[l];
#define BC__CU_W(field, nm, cols, rows) \
        snprintf(name, sizeof name, "blk.%d." nm ".weight", l); \
        if ((r = bc__cu_weight(m, name, cols, rows, &L->field, err)) != BC_OK) return r;
        BC__CU_W(wq, "attn_q", e, e)
        BC__CU_W(wk, "attn_k", e, e)
        BC__CU_W(wv, "attn_v", e, e)
        BC__CU_W(wo, "attn_output", e, e)
        BC__CU_W(gate, "ffn_gate", e, ff)
        BC__CU_W(up, "ffn_up", e, ff)
        BC__CU_W(down, "ffn_down", ff, e)
#undef BC__CU_W
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if ((r = bc__cu_norm(m, name, e, &L->attn_norm, err)) != BC_OK) return r;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if ((r = bc__cu_norm(m, name, e, &L->ffn_norm, err)) != BC_OK) return r;
    }
    if (scale && (r = bc__cu_upload(scale, (uint64_t)hp->n_vocab * 4, (void **)&g->out_scale, err)) != BC_OK) return r;
    if (hp->pos_encoding == BC_POS_ALIBI) {
        /* the official _get_interleave, as bc__alibi_slopes computes it */
        float *s = (float *)malloc((size_t)hp->n_head * 4);
        int p2 = 1, i;
        if (!s) return bc__cu_fail(err, BC_ERR_NOMEM, "out of memory");
        while (p2 * 2 <= hp->n_head) p2 *= 2;
        for (i = 0; i < p2; i++) s[i] = (float)pow(2.0, -8.0 / p2 * (i + 1));
        for (i = p2; i < hp->n_head; i++) s[i] = (float)pow(2.0, -8.0 / (2 * p2) * (2 * (i - p2) + 1));
        r = bc__cu_upload(s, (uint64_t)hp->n_head * 4, (void **)&g->alibi, err);
        free(s);
        if (r != BC_OK) return r;
    } else {
        float *f = (float *)malloc((size_t)hd / 2 * 4);
        int i;
        if (!f) return bc__cu_fail(err, BC_ERR_NOMEM, "out of memory");
        for (i = 0; i < hd / 2; i++) f[i] = 1.0f / powf(hp->rope_base, (float)(2 * i) / (float)hd);
        r = bc__cu_upload(f, (uint64_t)hd / 2 * 4, (void **)&g->inv_freq, err);
        free(f);
        if (r != BC_OK) return r;
    }
    if ((r = bc__cu_alloc(&g->k_cache, (uint64_t)kv, err)) != BC_OK || (r = bc__cu_alloc(&g->v_cache, (uint64_t)kv, err)) != BC_OK ||
        (r = bc__cu_alloc(&g->x, (uint64_t)(b * e), err)) != BC_OK || (r = bc__cu_alloc(&g->xb, (uint64_t)(b * e), err)) != BC_OK ||
        (r = bc__cu_alloc(&g->q, (uint64_t)(b * e), err)) != BC_OK || (r = bc__cu_alloc(&g->k, (uint64_t)(b * e), err)) != BC_OK ||
        (r = bc__cu_alloc(&g->v, (uint64_t)(b * e), err)) != BC_OK || (r = bc__cu_alloc(&g->att, (uint64_t)(b * e), err)) != BC_OK ||
        (r = bc__cu_alloc(&g->ffa, (uint64_t)(b * ff), err)) != BC_OK || (r = bc__cu_alloc(&g->ffb, (uint64_t)(b * ff), err)) != BC_OK ||
        (r = bc__cu_alloc(&g->logits, (uint64_t)b * (uint64_t)hp->n_vocab, err)) != BC_OK ||
        (r = bc__cu_alloc(&g->tile, BC__CU_TILE, err)) != BC_OK)
        return r;
    BC__CU(cudaMalloc((void **)&g->tokens, (size_t)b * 4));
    {
        int dev, maxs;
        size_t need = (size_t)g->n_ctx * 4;
        BC__CU(cudaGetDevice(&dev));
        BC__CU(cudaDeviceGetAttribute(&maxs, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        if (need > (size_t)maxs - 1024)
            return bc__cu_fail(err, BC_ERR_UNSUPPORTED, "a %d-token context needs more shared memory than the GPU has", (int)g->n_ctx);
        BC__CU(cudaFuncSetAttribute(bc__cu_attention, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
        g->attn_smem_max = need;
    }
    return BC_OK;
}

BC_API int bc_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

BC_API bc_result bc_cuda_model_create(bc_cuda_model **out, const bc_model *m, int32_t n_ctx, bc_error *err) {
    bc_cuda_model *g;
    bc_result r;
    if (!out || !m || n_ctx <= 0) return bc__cu_fail(err, BC_ERR_INVALID, "invalid arguments to bc_cuda_model_create");
    *out = NULL;
    if (bc_cuda_device_count() <= 0) return bc__cu_fail(err, BC_ERR_CUDA, "no CUDA device");
    g = (bc_cuda_model *)calloc(1, sizeof *g);
    if (!g) return bc__cu_fail(err, BC_ERR_NOMEM, "out of memory");
    g->hp = *bc_model_hparams(m);
    g->n_ctx = n_ctx;
    r = bc__cu_create(g, m, err);
    if (r != BC_OK) { bc_cuda_model_free(g); return r; }
    *out = g;
    return BC_OK;
}

static void bc__cu_free_weight(bc__dweight *w) { if (w->d) cudaFree(w->d); }

BC_API void bc_cuda_model_free(bc_cuda_model *g) {
    int l;
    if (!g) return;
    if (g->layers) {
        for (l = 0; l < g->hp.n_layer; l++) {
            bc__dlayer *L = &g->layers[l];
            bc__cu_free_weight(&L->wq); bc__cu_free_weight(&L->wk); bc__cu_free_weight(&L->wv); bc__cu_free_weight(&L->wo);
            bc__cu_free_weight(&L->gate); bc__cu_free_weight(&L->up); bc__cu_free_weight(&L->down);
            cudaFree(L->attn_norm); cudaFree(L->ffn_norm);
        }
        free(g->layers);
    }
    bc__cu_free_weight(&g->tok_embd); bc__cu_free_weight(&g->output);
    cudaFree(g->output_norm); cudaFree(g->out_scale); cudaFree(g->alibi); cudaFree(g->inv_freq);
    cudaFree(g->k_cache); cudaFree(g->v_cache); cudaFree(g->x); cudaFree(g->xb); cudaFree(g->q); cudaFree(g->k); cudaFree(g->v);
    cudaFree(g->att); cudaFree(g->ffa); cudaFree(g->ffb); cudaFree(g->logits); cudaFree(g->tile); cudaFree(g->tokens);
    if (g->blas) cublasDestroy(g->blas);
    if (g->stream) cudaStreamDestroy(g->stream);
    free(g);
}

static unsigned bc__cu_blocks(int64_t n) { return (unsigned)((n + 255) / 256); }

/* one chunk of n tokens at positions pos0..; logits of rows [first, n) to g->logits */
static bc_result bc__cu_chunk(bc_cuda_model *g, const int32_t *tokens, int32_t n, int32_t pos0, int32_t first, bc_error *err) {
    const bc_hparams *hp = &g->hp;
    int64_t e = hp->n_embd, ff = hp->n_ff;
    int hd = hp->n_embd / hp->n_head, l;
    bc_result r;
    BC__CU(cudaMemcpyAsync(g->tokens, tokens, (size_t)n * 4, cudaMemcpyHostToDevice, g->stream));
    bc__cu_embed<<<n, 256, 0, g->stream>>>(g->tok_embd.type, (const uint8_t *)g->tok_embd.d, g->tok_embd.row_bytes, e, g->tokens, g->x);
    for (l = 0; l < hp->n_layer; l++) {
        const bc__dlayer *L = &g->layers[l];
        int64_t off = (int64_t)l * g->n_ctx * e + (int64_t)pos0 * e;
        bc__cu_rmsnorm<<<n, 256, 0, g->stream>>>(g->x, L->attn_norm, g->xb, e, hp->norm_eps);
        if ((r = bc__cu_matmul(g, &L->wq, g->xb, n, g->q, err)) != BC_OK) return r;
        if ((r = bc__cu_matmul(g, &L->wk, g->xb, n, g->k_cache + off, err)) != BC_OK) return r;
        if ((r = bc__cu_matmul(g, &L->wv, g->xb, n, g->v_cache + off, err)) != BC_OK) return r;
        if (hp->pos_encoding == BC_POS_ROPE)
            bc__cu_rope<<<bc__cu_blocks((int64_t)n * hp->n_head * (hd / 2)), 256, 0, g->stream>>>(g->q, g->k_cache + off, g->inv_freq, n,
                                                                                               hp->n_head, hd, pos0);
        bc__cu_attention<<<n * hp->n_head, BC__CU_ATT_THREADS, (size_t)(pos0 + n) * 4, g->stream>>>(
            g->q, g->k_cache + (int64_t)l * g->n_ctx * e, g->v_cache + (int64_t)l * g->n_ctx * e, g->att, g->alibi, hp->n_head, hd, pos0);
        if ((r = bc__cu_matmul(g, &L->wo, g->att, n, g->xb, err)) != BC_OK) return r;
        bc__cu_add<<<bc__cu_blocks(n * e), 256, 0, g->stream>>>(g->x, g->xb, n * e);
        bc__cu_rmsnorm<<<n, 256, 0, g->stream>>>(g->x, L->ffn_norm, g->xb, e, hp->norm_eps);
        if ((r = bc__cu_matmul(g, &L->gate, g->xb, n, g->ffa, err)) != BC_OK) return r;
        if ((r = bc__cu_matmul(g, &L->up, g->xb, n, g->ffb, err)) != BC_OK) return r;
        bc__cu_swiglu<<<bc__cu_blocks(n * ff), 256, 0, g->stream>>>(g->ffa, g->ffb, n * ff);
        if ((r = bc__cu_matmul(g, &L->down, g->ffa, n, g->xb, err)) != BC_OK) return r;
        bc__cu_add<<<bc__cu_blocks(n * e), 256, 0, g->stream>>>(g->x, g->xb, n * e);
    }
    if (first < n) {
        int32_t nl = n - first;
        bc__cu_rmsnorm<<<nl, 256, 0, g->stream>>>(g->x + (int64_t)first * e, g->output_norm, g->xb, e, hp->norm_eps);
        if ((r = bc__cu_matmul(g, &g->output, g->xb, nl, g->logits, err)) != BC_OK) return r;
        if (g->out_scale)
            bc__cu_scale_rows<<<bc__cu_blocks((int64_t)nl * hp->n_vocab), 256, 0, g->stream>>>(g->logits, g->out_scale, hp->n_vocab,
                                                                                              (int64_t)nl * hp->n_vocab);
    }
    BC__CU(cudaGetLastError());
    return BC_OK;
}

BC_API bc_result bc_cuda_eval(bc_cuda_model *g, const int32_t *tokens, int32_t n, int32_t n_past, float *logits_all, float *logits_last,
                              bc_error *err) {
    int32_t done = 0, i;
    int64_t nv;
    bc_result r;
    if (!g || (n > 0 && !tokens) || n < 0 || n_past < 0) return bc__cu_fail(err, BC_ERR_INVALID, "invalid arguments to bc_cuda_eval");
    nv = g->hp.n_vocab;
    if (n == 0) return BC_OK;
    if (n > g->n_ctx - n_past) return bc__cu_fail(err, BC_ERR_RANGE, "%d tokens do not fit in the GPU context", n);
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= nv) return bc__cu_fail(err, BC_ERR_RANGE, "token id %d is outside the vocabulary", tokens[i]);
    while (done < n) {
        int32_t chunk = n - done < BC__CU_BATCH ? n - done : BC__CU_BATCH;
        int last = done + chunk == n;
        int32_t first = logits_all ? 0 : (last ? chunk - 1 : chunk);
        if ((r = bc__cu_chunk(g, tokens + done, chunk, n_past + done, first, err)) != BC_OK) return r;
        if (logits_all)
            BC__CU(cudaMemcpyAsync(logits_all + (int64_t)done * nv, g->logits, (size_t)chunk * nv * 4, cudaMemcpyDeviceToHost, g->stream));
        if (last && logits_last)
            BC__CU(cudaMemcpyAsync(logits_last, g->logits + (int64_t)(chunk - 1 - first) * nv, (size_t)nv * 4, cudaMemcpyDeviceToHost,
                                   g->stream));
        done += chunk;
    }
    BC__CU(cudaStreamSynchronize(g->stream));
    return BC_OK;
}
