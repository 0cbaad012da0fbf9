/* libFuzzer harness: the SentencePiece protobuf parser, then building a tokenizer from
   whatever it accepted and encoding a fixed text with it. */
#define BAICHUAN_IMPLEMENTATION
#define BC_MAX_ALLOC ((uint64_t)1 << 28)
#include "baichuan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_spm_model m;
    bc_tokenizer *t = NULL;
    bc_error err;
    int32_t ids[256];
    static const char text[] = "Hello world 123 \xe4\xbd\xa0\xe5\xa5\xbd <reserved_1> </s>\n\t";
    memset(&m, 0, sizeof m);
    if (bc_spm_parse(&m, data, size, &err) != BC_OK) return 0;
    if (bc_tokenizer_from_spm(&t, &m, &err) == BC_OK) {
        (void)bc_tokenizer_encode(t, text, sizeof text - 1, BC_SPECIAL_SENTENCEPIECE, ids, 256, &err);
        (void)bc_tokenizer_encode(t, text, sizeof text - 1, BC_SPECIAL_HF, ids, 256, &err);
        bc_tokenizer_free(t);
    }
    bc_spm_free(&m);
    return 0;
}
