/* Several contexts sharing one model from different threads give the same logits as one
   context alone (run under `make tsan` to prove the sharing race-free). */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"
#include <pthread.h>

typedef struct job { const bc_model *m; int32_t ids[24]; float logits[512]; int ok; } job;

static void *worker(void *arg) {
    job *j = (job *)arg;
    bc_context *c;
    bc_context_params p = bc_context_default_params();
    bc_error err;
    p.n_threads = 2;
    p.n_ctx = 64;
    j->ok = bc_context_create(&c, j->m, &p, &err) == BC_OK && bc_context_eval(c, j->ids, 24, NULL, &err) == BC_OK;
    if (j->ok) memcpy(j->logits, bc_context_logits(c), sizeof j->logits);
    bc_context_free(c);
    return NULL;
}

int main(void) {
    bc_model *m;
    bc_error err;
    job jobs[3], alone;
    pthread_t th[3];
    int i, k;
    if (bc_model_load(&m, "build/b13-s2-f32.gguf", NULL, &err) != BC_OK) { CHECK(0, "%s", err.message); return bct_done(); }
    for (k = 0; k < 3; k++) { jobs[k].m = m; for (i = 0; i < 24; i++) jobs[k].ids[i] = 5 + (i * 7 + k * 3) % 500; }
    for (k = 0; k < 3; k++) pthread_create(&th[k], NULL, worker, &jobs[k]);
    for (k = 0; k < 3; k++) pthread_join(th[k], NULL);
    for (k = 0; k < 3; k++) {
        alone = jobs[k];
        worker(&alone);
        CHECK(jobs[k].ok && alone.ok && memcmp(jobs[k].logits, alone.logits, sizeof alone.logits) == 0, "context %d shared vs alone", k);
    }
    bc_model_free(m);
    return bct_done();
}
