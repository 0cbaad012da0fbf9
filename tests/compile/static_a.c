/* BAICHUAN_STATIC: two translation units each with a private copy must link. */
#define BAICHUAN_STATIC
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
float static_b_half(void);
int main(void) {
    float a = bc_fp16_to_f32(bc_f32_to_fp16(0.5f));
    return (a == 0.5f && static_b_half() == 0.5f) ? 0 : 1;
}
