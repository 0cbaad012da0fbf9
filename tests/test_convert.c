/* The converter against tensors computed independently from the checkpoint files by
   tools/reference/make_convert_expected.py (tests/data/convert): every tensor of every
   fixture format (pytorch .bin f32 and bf16, sharded .bin, safetensors, sharded bf16
   safetensors), the metadata, unit-norm head rows, quantized outputs within their bounds,
   and clean failures that leave no output file. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"
#include <sys/wait.h>

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Every tensor: shape, exact sampled values (f32 output) or within the type's error (step:
   a quantization step in units of the tensor's rms: ~0.03 for q8_0, up to ~0.45 for q4_0),
   and sums of squares. */
static void check_against_expected(const char *gguf_path, const char *expected_path, int exact, float step) {
    bc_gguf g;
    bc_error err;
    size_t n;
    char *e = (char *)bct_read_file(expected_path, &n), *line, *next;
    int tensors = 0, bad_vals = 0, bad_sums = 0, bad_shapes = 0;
    float *row = NULL;
    if (!e || bc_gguf_open_file(&g, gguf_path, &err) != BC_OK) { CHECK(0, "%s / %s", gguf_path, expected_path); free(e); return; }
    for (line = e; *line; line = next) {
        char name[128], *bar;
        long long d0 = 0, d1 = 0;
        double want_sum, want_sq, sum = 0, sq = 0;
        const bc_gguf_tensor *t;
        int64_t count, i;
        next = strchr(line, '\n');
        if (next) *next++ = 0; else next = line + strlen(line);
        if (sscanf(line, "%127s %lld %lld", name, &d0, &d1) < 2) continue;
        if (!strstr(line, " | ")) continue;
        if (sscanf(strstr(line, " | ") + 3, "%lf %lf", &want_sum, &want_sq) != 2) continue;
        t = bc_gguf_find_tensor(&g, name);
        tensors++;
        if (!t) { bad_shapes++; continue; }
        /* PyTorch [rows, cols] is GGML ne = {cols, rows} */
        if ((t->n_dims == 2 && (t->ne[0] != d1 || t->ne[1] != d0)) || (t->n_dims == 1 && t->ne[0] != d0)) { bad_shapes++; continue; }
        count = t->ne[0] * (t->n_dims == 2 ? t->ne[1] : 1);
        row = (float *)realloc(row, (size_t)count * 4);
        bc_dequantize_row(t->type, t->data, row, count);
        for (i = 0; i < count; i++) { sum += row[i]; sq += (double)row[i] * row[i]; }
        if (fabs(sq - want_sq) > (exact ? 1e-6 : 2e-2) * want_sq + 1e-12) bad_sums++;
        bar = strstr(strstr(line, " | ") + 3, " | ");
        for (bar = bar ? bar + 3 : NULL; bar && *bar;) {
            long long idx;
            unsigned bits;
            int used;
            if (sscanf(bar, "%lld:%8x%n", &idx, &bits, &used) != 2) break;
            bar += used;
            while (*bar == ' ') bar++;
            if (exact ? row[idx] != bits_f32(bits) && fabsf(row[idx] - bits_f32(bits)) > 1e-7f * fabsf(bits_f32(bits))
                      : fabsf(row[idx] - bits_f32(bits)) > step * sqrtf((float)(want_sq / count)) + 1e-3f * fabsf(bits_f32(bits)))
                bad_vals++;
        }
        (void)sum;
    }
    CHECK(tensors >= 21 && bad_shapes == 0 && bad_vals == 0 && bad_sums == 0, "%s: %d tensors, %d bad shapes, %d bad values, %d bad sums",
          gguf_path, tensors, bad_shapes, bad_vals, bad_sums);
    free(row);
    free(e);
    bc_gguf_close(&g);
}

static void check_metadata(const char *path, const char *pos, uint32_t heads) {
    bc_gguf g;
    bc_error err;
    bc_str s;
    uint32_t u;
    int b;
    const bc_gguf_tensor *t;
    if (bc_gguf_open_file(&g, path, &err) != BC_OK) { CHECK(0, "%s", err.message); return; }
    CHECK(bc_gguf_get_str(&g, "general.architecture", &s) == BC_OK && bc__str_eq(s, "baichuan"), "architecture");
    CHECK(bc_gguf_get_str(&g, "baichuan.position_encoding", &s) == BC_OK && bc__str_eq(s, pos), "%s: position encoding %s", path, pos);
    CHECK(bc_gguf_get_u32(&g, "baichuan.attention.head_count", &u) == BC_OK && u == heads, "heads");
    CHECK(bc_gguf_get_u32(&g, "baichuan.chat.user_token_id", &u) == BC_OK && u == 3, "user token from generation_config.json");
    CHECK(bc_gguf_get_bool(&g, "tokenizer.ggml.add_space_prefix", &b) == BC_OK && b == 0, "no dummy prefix");
    CHECK(bc_gguf_get_bool(&g, "baichuan.output_normalized", &b) == BC_OK && b == 1, "NormHead recorded");
    CHECK(bc_gguf_find_kv(&g, "tokenizer.ggml.tokens")->n == 512, "vocabulary");
    t = bc_gguf_find_tensor(&g, "output.weight");
    if (t && t->type == BC_TYPE_F32) {
        int64_t r, c, bad = 0;
        for (r = 0; r < t->ne[1]; r++) {
            double s2 = 0;
            for (c = 0; c < t->ne[0]; c++) s2 += pow(((const float *)t->data)[r * t->ne[0] + c], 2);
            if (fabs(sqrt(s2) - 1) > 1e-6) bad++;
        }
        CHECK(bad == 0, "%lld head rows are not unit-norm", (long long)bad);
    }
    bc_gguf_close(&g);
}

static int run(const char *cmd) {
    char full[2048];
    int st;
    snprintf(full, sizeof full, "%s > build/test_convert.out 2>&1", cmd);
    st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int exists(const char *p) { FILE *f = fopen(p, "rb"); if (f) fclose(f); return f != NULL; }

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(data, 1, n, f); fclose(f); }
}

/* A copy of the b7-s2 directory with one file replaced. */
static void make_broken(const char *file, const void *data, size_t n) {
    static const char *files[] = {"config.json", "generation_config.json", "tokenizer.model", "tokenizer_config.json", "pytorch_model.bin"};
    int i;
    system("rm -rf build/broken && mkdir -p build/broken");
    for (i = 0; i < 5; i++) {
        char src[256], dst[256];
        size_t m;
        unsigned char *b;
        snprintf(src, sizeof src, "tests/data/b7-s2/%s", files[i]);
        snprintf(dst, sizeof dst, "build/broken/%s", files[i]);
        if (file && !strcmp(file, files[i])) { if (data) write_file(dst, data, n); continue; }
        b = bct_read_file(src, &m);
        write_file(dst, b, m);
        free(b);
    }
}

static void expect_failure(const char *what, const char *needle) {
    int rc = run("build/baichuan-convert build/broken -o build/broken.gguf --type f32");
    size_t n;
    char *out = (char *)bct_read_file("build/test_convert.out", &n);
    CHECK(rc != 0 && !exists("build/broken.gguf") && out && strstr(out, "error:") && (!needle || strstr(out, needle)),
          "%s: exit %d, output file %s, message: %s", what, rc, exists("build/broken.gguf") ? "left behind" : "absent", out ? out : "");
    free(out);
}

int main(void) {
    size_t n;
    unsigned char *bin;
    char *cfg, *deep;
    int i;
    check_against_expected("build/b7-s2-f32.gguf", "tests/data/convert/b7-s2.txt", 1, 0);
    check_against_expected("build/b13-s2-f32.gguf", "tests/data/convert/b13-s2.txt", 1, 0);
    check_against_expected("build/b7-q-f32.gguf", "tests/data/convert/b7-q.txt", 1, 0);
    check_against_expected("build/b13-q-f32.gguf", "tests/data/convert/b13-q.txt", 1, 0);
    check_against_expected("build/b7-s2-bf16-f32.gguf", "tests/data/convert/b7-s2-bf16.txt", 1, 0);
    check_against_expected("build/b7-q-q8_0.gguf", "tests/data/convert/b7-q.txt", 0, 0.05f);
    check_against_expected("build/b13-q-q4_0.gguf", "tests/data/convert/b13-q.txt", 0, 0.5f);
    check_metadata("build/b7-s2-f32.gguf", "rope", 4);
    check_metadata("build/b13-s2-f32.gguf", "alibi", 5);
    /* bad input: one line, non-zero exit, no output file */
    CHECK(run("build/baichuan-convert build/no-such-dir -o build/broken.gguf") != 0 && !exists("build/broken.gguf"), "missing directory");
    make_broken("tokenizer.model", NULL, 0);
    expect_failure("missing tokenizer.model", "tokenizer.model");
    bin = bct_read_file("tests/data/b7-s2/pytorch_model.bin", &n);
    make_broken("pytorch_model.bin", bin, n / 2);
    expect_failure("truncated pytorch_model.bin", "zip");
    if (bin) {
        unsigned char *copy = (unsigned char *)malloc(n);
        size_t k;
        memcpy(copy, bin, n);
        for (k = 0; k + 6 <= n; k++) if (!memcmp(copy + k, "data/0", 6)) copy[k + 5] = 'Z'; /* the storage entry names lie */
        make_broken("pytorch_model.bin", copy, n);
        expect_failure("pickle referring to a missing storage", "storage");
        free(copy);
    }
    free(bin);
    cfg = (char *)bct_read_file("tests/data/b7-s2/config.json", &n);
    if (cfg) {
        char *p = strstr(cfg, "\"hidden_size\": 64");
        if (p) { memcpy(p, "\"hidden_size\": 96", 17); make_broken("config.json", cfg, n); expect_failure("shape mismatch with config.json", "shape"); }
        make_broken("config.json", "{\"vocab_size\": 512,", 19);
        expect_failure("truncated config.json", "JSON");
        free(cfg);
    }
    deep = (char *)malloc(20001);
    for (i = 0; i < 10000; i++) { deep[i] = '['; deep[19999 - i] = ']'; }
    deep[20000] = 0;
    make_broken("config.json", deep, 20000);
    expect_failure("JSON nested 10,000 deep", "deep");
    free(deep);
    {
        /* a safetensors header that claims more bytes than the file has */
        unsigned char st[64] = {0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0, '{', '}'};
        system("rm -rf build/broken && mkdir -p build/broken && cp tests/data/b7-q/config.json tests/data/b7-q/tokenizer.model build/broken/");
        write_file("build/broken/model.safetensors", st, sizeof st);
        expect_failure("safetensors header larger than the file", "larger than the file");
    }
    CHECK(run("build/baichuan-convert tests/data/b13-s2 -o build/broken.gguf --type q4_0") != 0 && !exists("build/broken.gguf"), "rows of 80 cannot be q4_0");
    system("rm -rf build/broken");
    return bct_done();
}
