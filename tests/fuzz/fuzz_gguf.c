/* libFuzzer harness: the GGUF reader on arbitrary bytes, then every accessor on what it
   accepted. Any crash, over-read or unbounded allocation is a bug. */
#define BAICHUAN_IMPLEMENTATION
#define BC_MAX_ALLOC ((uint64_t)1 << 28)
#include "baichuan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_gguf g;
    bc_error err;
    uint64_t i, j;
    memset(&g, 0, sizeof g);
    if (bc_gguf_open_buffer(&g, data, size, &err) != BC_OK) return 0;
    for (i = 0; i < g.n_kv; i++) {
        const bc_gguf_kv *kv = &g.kv[i];
        char key[128];
        size_t klen = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        uint32_t u;
        float f;
        int b;
        bc_str s;
        memcpy(key, kv->key.ptr, klen);
        key[klen] = 0;
        (void)bc_gguf_get_u32(&g, key, &u);
        (void)bc_gguf_get_f32(&g, key, &f);
        (void)bc_gguf_get_bool(&g, key, &b);
        (void)bc_gguf_get_str(&g, key, &s);
        if (kv->type == BC_GGUF_ARRAY && kv->elem_type == BC_GGUF_STRING)
            for (j = 0; j < kv->n && j < 64; j++)
                if (bc_gguf_array_str(&g, kv, j, &s) == BC_OK && s.len) (void)s.ptr[s.len - 1];
    }
    for (i = 0; i < g.n_tensors; i++) {
        const bc_gguf_tensor *t = &g.tensors[i];
        if (t->nbytes) {
            volatile uint8_t sink = ((const uint8_t *)t->data)[0];
            sink = ((const uint8_t *)t->data)[t->nbytes - 1];
            (void)sink;
        }
    }
    bc_gguf_close(&g);
    return 0;
}
