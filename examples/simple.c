/* The smallest complete program: load a model, generate a continuation, free.
   Build: cc -O2 -march=native simple.c -lm -lpthread
   Run:   ./simple model.gguf "床前明月光，" */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include <stdio.h>
#include <string.h>

static int print_piece(void *user, int32_t token, const char *text, int len) {
    (void)user; (void)token;
    fwrite(text, 1, (size_t)len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

int main(int argc, char **argv) {
    bc_model *model; bc_context *ctx; bc_sampler *sampler; bc_error err;
    int32_t ids[512];
    int64_t n;
    if (argc < 3) { fprintf(stderr, "usage: simple MODEL.gguf PROMPT\n"); return 2; }
    if (bc_model_load(&model, argv[1], NULL, &err) != BC_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
    n = bc_tokenizer_encode(bc_model_tokenizer(model), argv[2], strlen(argv[2]), BC_SPECIAL_SENTENCEPIECE, ids, 512, &err);
    if (n < 1 || n > 512 || bc_context_create(&ctx, model, NULL, &err) != BC_OK) { fprintf(stderr, "bad prompt or %s\n", err.message); return 1; }
    bc_sampler_create(&sampler, bc_model_hparams(model)->n_vocab, NULL, &err); /* official defaults */
    printf("%s", argv[2]);
    if (bc_generate(ctx, sampler, ids, (int32_t)n, 64, print_piece, NULL, &err) != BC_OK) fprintf(stderr, "\n%s", err.message);
    printf("\n");
    bc_sampler_free(sampler); bc_context_free(ctx); bc_model_free(model);
    return 0;
}
