/* Block formats: our reference quantizers byte-for-byte against the python gguf package's
   numpy quantizers, f16/bf16 rows against numpy/torch, and round-trip error bounds. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

int main(void) {
    size_t n8, n4, nx, nh, nb;
    float *x = (float *)bct_read_file("tests/data/quant/input.f32", &nx);
    unsigned char *q8 = bct_read_file("tests/data/quant/input.q8_0", &n8), *q4 = bct_read_file("tests/data/quant/input.q4_0", &n4);
    unsigned char *h = bct_read_file("tests/data/quant/f16.bin", &nh), *bf = bct_read_file("tests/data/quant/bf16.bin", &nb);
    static bc_block_q8_0 b8[128];
    static bc_block_q4_0 b4[128];
    static uint16_t out16[4096];
    static float back[4096];
    int n = 4096, i, bad = 0;
    double worst8 = 0, worst4 = 0;
    CHECK(x && q8 && q4 && h && bf && nx == 16384 && n8 == 128 * 34 && n4 == 128 * 18, "fixtures present");
    if (!x || !q8 || !q4 || !h || !bf) return bct_done();
    CHECK(sizeof(bc_block_q8_0) == 34 && sizeof(bc_block_q4_0) == 18, "block sizes match GGUF");
    bc_quantize_row_q8_0_ref(x, b8, n);
    bc_quantize_row_q4_0_ref(x, b4, n);
    CHECK(memcmp(b8, q8, n8) == 0, "q8_0 blocks differ from the gguf package's");
    /* gguf-py computes x*id + 8.5 in float64, ggml's C reference (and ours) in float32: the
       two may differ by one step exactly where x*id + 8.5 lies on an integer */
    {
        int blk, j, ties = 0, other = 0;
        const bc_block_q4_0 *ref = (const bc_block_q4_0 *)q4;
        for (blk = 0; blk < 128; blk++) {
            float d = bc_fp16_to_f32(b4[blk].d), id;
            if (bc_fp16_to_f32(b4[blk].d) != bc_fp16_to_f32(ref[blk].d)) { other++; continue; } /* -0 == +0 */
            d = x[blk * 32];
            for (j = 0; j < 32; j++) if (fabsf(x[blk * 32 + j]) > fabsf(d)) d = x[blk * 32 + j];
            id = d != 0 ? -8.0f / d : 0.0f;
            for (j = 0; j < 32; j++) {
                int ours = j < 16 ? b4[blk].qs[j] & 15 : b4[blk].qs[j - 16] >> 4, theirs = j < 16 ? ref[blk].qs[j] & 15 : ref[blk].qs[j - 16] >> 4;
                double v = (double)x[blk * 32 + j] * id + 8.5;
                if (ours == theirs) continue;
                if (abs(ours - theirs) == 1 && fabs(v - floor(v + 0.5)) < 1e-4) ties++;
                else other++;
            }
        }
        CHECK(other == 0, "q4_0: %d nibbles or scales differ from the gguf package's beyond rounding ties (%d ties)", other, ties);
    }
    /* round trip: within half a step of the block, plus what storing the scale in fp16 costs
       (|q| <= 127 steps of relative error 2^-11) */
    bc_dequantize_row_q8_0(b8, back, n);
    for (i = 0; i < n; i++) {
        double d = bc_fp16_to_f32(b8[i / 32].d), e = fabs(back[i] - x[i]) - d * (0.5 + 127.0 / 2048) - 127.0 * ldexp(1.0, -25) - 1e-6 * fabs(x[i]);
        if (e > worst8) worst8 = e;
    }
    bc_dequantize_row_q4_0(b4, back, n);
    for (i = 0; i < n; i++) {
        /* the scale is max/-8: a value of the opposite sign to the extreme may clamp at +7,
           a whole step short */
        double d = fabs(bc_fp16_to_f32(b4[i / 32].d)), e = fabs(back[i] - x[i]) - d * (1.0 + 8.0 / 2048) - 1e-30;
        if (e > worst4) worst4 = e;
    }
    CHECK(worst8 <= 0, "q8_0 round trip exceeds d/2 by %g", worst8);
    CHECK(worst4 <= 0, "q4_0 round trip exceeds its bound by %g", worst4);
    CHECK(bc_quantize_row(BC_TYPE_F16, x, out16, n) == BC_OK && memcmp(out16, h, nh) == 0, "f16 rows differ from numpy float16");
    CHECK(bc_quantize_row(BC_TYPE_BF16, x, out16, n) == BC_OK && memcmp(out16, bf, nb) == 0, "bf16 rows differ from torch bfloat16");
    for (i = 0; i < n; i++) if (fabsf(bc_bf16_to_f32(out16[i]) - x[i]) > fabsf(x[i]) / 256) bad++;
    CHECK(bad == 0, "bf16 values within half a bf16 step");
    CHECK(bc_quantize_row(BC_TYPE_Q4_0, x, b4, 33) == BC_ERR_INVALID, "q4_0 rows must be whole blocks");
    CHECK(bc_tensor_nbytes(BC_TYPE_Q4_0, 64) == 36 && bc_tensor_nbytes(BC_TYPE_Q4_0, 65) == 0 && bc_tensor_nbytes(BC_TYPE_F32, -1) == 0 &&
          bc_tensor_nbytes(BC_TYPE_F32, INT64_MAX) == 0, "tensor sizes and overflow");
    free(x); free(q8); free(q4); free(h); free(bf);
    return bct_done();
}
