/* Evaluating tokens allocates nothing once the context exists (a counting allocator
   through BC_MALLOC / BC_REALLOC / BC_FREE), and the library works with the hooks. */
#include <stdlib.h>
static long n_allocs;
static void *count_malloc(size_t n) { n_allocs++; return malloc(n); }
static void *count_realloc(void *p, size_t n) { n_allocs++; return realloc(p, n); }
#define BC_MALLOC(sz) count_malloc(sz)
#define BC_REALLOC(p, sz) count_realloc(p, sz)
#define BC_FREE(p) free(p)
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

int main(void) {
    bc_model *m;
    bc_context *c;
    bc_context_params p = bc_context_default_params();
    bc_error err;
    int32_t ids[40];
    int i;
    long before;
    for (i = 0; i < 40; i++) ids[i] = 10 + i;
    if (bc_model_load(&m, "build/b7-q-q4_0.gguf", NULL, &err) != BC_OK) { CHECK(0, "%s", err.message); return bct_done(); }
    CHECK(n_allocs > 0, "the hooks are used");
    p.n_threads = 2;
    p.n_batch = 16;
    CHECK(bc_context_create(&c, m, &p, &err) == BC_OK, "%s", err.message);
    before = n_allocs;
    CHECK(bc_context_eval(c, ids, 30, NULL, &err) == BC_OK, "prefill");
    for (i = 30; i < 40; i++) CHECK(bc_context_eval(c, ids + i, 1, NULL, &err) == BC_OK, "decode");
    CHECK(n_allocs == before, "%ld allocations while evaluating", n_allocs - before);
    bc_context_free(c);
    bc_model_free(m);
    return bct_done();
}
