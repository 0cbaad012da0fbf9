/* The bundled tiny model (examples/tiny, trained here with the official code): the engine's
   perplexity on the held-out text equals the official PyTorch model's to 4 significant
   digits in f32 (examples/tiny/reference_perplexity.txt, tools/reference/tiny_perplexity.py);
   Q8_0 stays within +1% of f32 and Q4_0 within +5%, so a regression in any kernel or in the
   converter fails here. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

static double cli_perplexity(const char *model) {
    char cmd[512], out[4096];
    FILE *p;
    size_t n;
    const char *s;
    snprintf(cmd, sizeof cmd, "build/baichuan -m %s --perplexity examples/tiny/heldout.txt -t 2 2>&1", model);
    p = popen(cmd, "r");
    if (!p) return -1;
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    pclose(p);
    s = strstr(out, "perplexity: ");
    if (!s) fprintf(stderr, "%s", out);
    return s ? atof(s + 12) : -1;
}

int main(void) {
    size_t n;
    char *ref = (char *)bct_read_file("examples/tiny/reference_perplexity.txt", &n);
    double official = -1, f32, q8, q4;
    const char *s;
    CHECK(ref != NULL, "examples/tiny/reference_perplexity.txt present");
    if (ref && (s = strstr(ref, "f32 ")) != NULL) official = atof(s + 4);
    f32 = cli_perplexity("build/tiny-f32.gguf");
    q8 = cli_perplexity("build/tiny-q8_0.gguf");
    q4 = cli_perplexity("build/tiny-q4_0.gguf");
    printf("perplexity: official f32 %.6g, ours f32 %.6g, q8_0 %.6g, q4_0 %.6g\n", official, f32, q8, q4);
    CHECK(official > 0 && fabs(f32 - official) / official < 5e-5, "f32 perplexity %.8g vs official %.8g", f32, official);
    CHECK(q8 > 0 && q8 <= f32 * 1.01, "q8_0 perplexity %.6g more than 1%% above f32 %.6g", q8, f32);
    CHECK(q4 > 0 && q4 <= f32 * 1.05, "q4_0 perplexity %.6g more than 5%% above f32 %.6g", q4, f32);
    free(ref);
    return bct_done();
}
