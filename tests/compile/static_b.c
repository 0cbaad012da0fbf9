#define BAICHUAN_STATIC
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
float static_b_half(void);
float static_b_half(void) { return bc_fp16_to_f32(bc_f32_to_fp16(0.5f)); }
