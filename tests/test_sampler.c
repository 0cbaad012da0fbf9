/* The sampler against a hand-computed example of Hugging Face's processors, applied in
   generate's order: repetition penalty 1.5 on ids {2, 3}, temperature 0.5, top-k 3, top-p 0.6.
     logits             1.0   2.2   3.0  -1.0   0.5   2.6
     penalty           1.0   2.2   2.0  -1.5   0.5   2.6   (3.0/1.5, -1.0*1.5)
     temperature       2.0   4.4   4.0  -3.0   1.0   5.2
     top-k 3           keeps ids 5 (5.2), 1 (4.4), 2 (4.0)
     softmax           p5 = e^5.2/S = 0.57126, p1 = 0.25668, p2 = 0.17206 (S = 317.321)
     top-p 0.6         ascending cumulative: id2 0.17206 <= 0.4 removed; id1 0.42874 kept
     final             p5 = 181.272/262.723 = 0.68997, p1 = 0.31003 */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

int main(void) {
    static const float logits[6] = {1.0f, 2.2f, 3.0f, -1.0f, 0.5f, 2.6f};
    int32_t hist[2] = {2, 3}, hist5[3] = {2, 3, 5};
    bc_sampler_params p = bc_sampler_default_params();
    bc_sampler *s, *s2, *g;
    bc_error err;
    int counts[6] = {0}, i, same = 1, n = 40000;
    int32_t seq1[64], seq2[64];
    CHECK(p.temperature == 0.3f && p.top_k == 5 && p.top_p == 0.85f && p.repetition_penalty == 1.05f, "official defaults");
    p.repetition_penalty = 1.5f;
    p.temperature = 0.5f;
    p.top_k = 3;
    p.top_p = 0.6f;
    p.seed = 42;
    CHECK(bc_sampler_create(&s, 6, &p, &err) == BC_OK, "%s", err.message);
    for (i = 0; i < n; i++) counts[bc_sampler_sample(s, logits, hist, 2)]++;
    CHECK(counts[0] == 0 && counts[2] == 0 && counts[3] == 0 && counts[4] == 0, "only ids 1 and 5 survive the filters");
    CHECK_CLOSE((double)counts[5] / n, 0.68997, 0.01, "p(5)");
    CHECK_CLOSE((double)counts[1] / n, 0.31003, 0.01, "p(1)");
    /* the same seed reproduces the same draws */
    bc_sampler_free(s);
    bc_sampler_create(&s, 6, &p, &err);
    bc_sampler_create(&s2, 6, &p, &err);
    for (i = 0; i < 64; i++) { seq1[i] = bc_sampler_sample(s, logits, hist, 2); seq2[i] = bc_sampler_sample(s2, logits, hist, 2); }
    for (i = 0; i < 64; i++) same &= seq1[i] == seq2[i];
    CHECK(same, "seeded sampler reproducible");
    bc_sampler_free(s2);
    /* greedy: penalty then argmax, as HF's greedy search with a repetition penalty */
    p.temperature = 0;
    bc_sampler_create(&g, 6, &p, &err);
    CHECK(bc_sampler_sample(g, logits, hist, 2) == 5, "greedy picks 2.6");
    CHECK(bc_sampler_sample(g, logits, hist5, 3) == 1, "penalised 5 (2.6/1.5) loses to 2.2");
    p.temperature = -1;
    CHECK(bc_sampler_create(&s2, 6, &p, &err) == BC_ERR_INVALID, "negative temperature rejected");
    bc_sampler_free(s);
    bc_sampler_free(g);
    return bct_done();
}
