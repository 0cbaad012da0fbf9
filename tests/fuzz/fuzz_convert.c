/* libFuzzer harness: every converter input parser on arbitrary bytes: JSON, the
   safetensors header, the zip directory, the pickle VM and a whole torch .bin. The first
   byte picks the parser. */
#define BC_CONVERT_NO_MAIN
#define BC_MAX_ALLOC ((uint64_t)1 << 28)
#include "convert.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_error err;
    cv_files cf;
    if (size < 1) return 0;
    memset(&cf, 0, sizeof cf);
    switch (data[0] % 5) {
    case 0: {
        const char *e;
        js_free(js_parse((const char *)data + 1, size - 1, &e));
        break;
    }
    case 1: cv_parse_safetensors(&cf, data + 1, size - 1, "fuzz", &err); break;
    case 2: { cv_zip z; cv_parse_zip(&z, data + 1, size - 1, "fuzz", &err); free(z.e); break; }
    case 3: { pk_vm vm; pk *root; pk_run(&vm, data + 1, size - 1, &root, "fuzz", &err); pk_vm_free(&vm); break; }
    default: cv_parse_torch_bin(&cf, data + 1, size - 1, "fuzz", &err); break;
    }
    cv_files_free(&cf);
    return 0;
}
