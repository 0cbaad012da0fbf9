/* fp16 / bf16 conversions: exhaustive round trips, hand-computed values, and the
   hardware F16C conversion as an independent reference where the CPU has it. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"
#if defined(__F16C__)
#include <immintrin.h>
#endif

static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s; }

int main(void) {
    uint32_t h, seed = 1, i, bad = 0;
    for (h = 0; h < 65536; h++) {
        float f = bc_fp16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        if (bc_f32_to_fp16(f) != h) bad++;
    }
    CHECK(bad == 0, "%u fp16 values do not round-trip", bad);
    CHECK(bc_f32_to_fp16(1.0f) == 0x3c00, "1.0");
    CHECK(bc_f32_to_fp16(-2.0f) == 0xc000, "-2.0");
    CHECK(bc_f32_to_fp16(65504.0f) == 0x7bff, "max half");
    CHECK(bc_f32_to_fp16(65520.0f) == 0x7c00, "65520 rounds to inf");
    CHECK(bc_f32_to_fp16(5.9604644775390625e-8f) == 0x0001, "smallest subnormal");
    CHECK(bc_f32_to_fp16(2.98023223876953125e-8f) == 0x0000, "half of smallest subnormal ties to even (0)");
    CHECK(bc_f32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00, "tie to even below");
    CHECK(bc_f32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02, "tie to even above");
    CHECK(bc_fp16_to_f32(0x3555) == 0.333251953125f, "0x3555");
    for (h = 0; h < 65536; h++) {
        float f = bc_bf16_to_f32((uint16_t)h);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        if (bc_f32_to_bf16(f) != h) { bad++; }
    }
    CHECK(bad == 0, "%u bf16 values do not round-trip", bad);
    CHECK(bc_f32_to_bf16(1.0f) == 0x3f80, "bf16 1.0");
    CHECK(bc_f32_to_bf16(1.00390625f) == 0x3f80, "bf16 tie to even below");
    CHECK(bc_f32_to_bf16(1.01171875f) == 0x3f82, "bf16 tie to even above");
    CHECK(bc_f32_to_bf16(1.005f) == 0x3f81, "bf16 nearest");
#if defined(__F16C__)
    bad = 0;
    for (i = 0; i < 2000000; i++) {
        uint32_t u = lcg(&seed);
        float f;
        memcpy(&f, &u, 4);
        if (f != f) continue;
        if (bc_f32_to_fp16(f) != (uint16_t)_cvtss_sh(f, 0)) bad++;
    }
    CHECK(bad == 0, "%u of 2M random floats differ from F16C", bad);
#else
    (void)lcg; (void)seed; (void)i;
    SKIP("no F16C on this CPU: hardware fp16 reference not compared");
#endif
    return bct_done();
}
