/* GGUF reader and writer: round trip of every key and tensor type, truncation and
   mutation of every header field, the hostile cases of issue 8, and files written by
   llama.cpp's own Python writer (../shared/vocab) read back. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

#define TMP "build/test_gguf.tmp.gguf"

static void write_sample(void) {
    bc_gguf_writer *w;
    bc_error err;
    static const char *strs[] = {"alpha", "", "\xe4\xb8\xad"};
    int32_t i32s[3] = {-1, 0, 7};
    float f32s[2] = {0.5f, -2.0f};
    uint8_t u8s[4] = {1, 2, 3, 255};
    int64_t ne2[2] = {64, 3}, ne1[1] = {5}, ne3[3] = {32, 2, 2};
    static float data_f32[5] = {1, 2, 3, 4, 5};
    static uint16_t data_f16[64 * 3];
    static bc_block_q8_0 q8[2 * 2];
    static bc_block_q4_0 q4[2 * 3];
    int i;
    for (i = 0; i < 64 * 3; i++) data_f16[i] = bc_f32_to_fp16((float)i);
    for (i = 0; i < 4; i++) { q8[i].d = bc_f32_to_fp16(0.25f); memset(q8[i].qs, i, 32); }
    for (i = 0; i < 6; i++) { q4[i].d = bc_f32_to_fp16(1.0f); memset(q4[i].qs, 0x5a, 16); }
    bc_gguf_writer_create(&w, &err);
    bc_gguf_writer_set_str(w, "general.architecture", "baichuan");
    bc_gguf_writer_set_u32(w, "a.u32", 4096);
    bc_gguf_writer_set_i32(w, "a.i32", -5);
    bc_gguf_writer_set_f32(w, "a.f32", 1e-6f);
    bc_gguf_writer_set_bool(w, "a.bool", 1);
    bc_gguf_writer_set_arr_str(w, "a.strs", strs, NULL, 3);
    bc_gguf_writer_set_arr(w, "a.i32s", BC_GGUF_INT32, i32s, 3);
    bc_gguf_writer_set_arr(w, "a.f32s", BC_GGUF_FLOAT32, f32s, 2);
    bc_gguf_writer_set_arr(w, "a.u8s", BC_GGUF_UINT8, u8s, 4);
    CHECK(bc_gguf_writer_add_tensor(w, "t.f32", BC_TYPE_F32, 1, ne1) == BC_OK, "add f32");
    CHECK(bc_gguf_writer_add_tensor(w, "t.f16", BC_TYPE_F16, 2, ne2) == BC_OK, "add f16");
    CHECK(bc_gguf_writer_add_tensor(w, "t.q8", BC_TYPE_Q8_0, 3, ne3) == BC_OK, "add q8");
    CHECK(bc_gguf_writer_add_tensor(w, "t.q4", BC_TYPE_Q4_0, 2, ne2) == BC_OK, "add q4");
    CHECK(bc_gguf_writer_add_tensor(w, "bad", BC_TYPE_Q4_0, 1, ne1) != BC_OK, "q4 row of 5 rejected");
    CHECK(bc_gguf_writer_begin(w, TMP, &err) == BC_OK, "%s", err.message);
    CHECK(bc_gguf_writer_write_tensor(w, data_f32, 20, &err) == BC_OK, "%s", err.message);
    CHECK(bc_gguf_writer_write_tensor(w, data_f16, 10, &err) != BC_OK, "wrong byte count rejected");
    CHECK(bc_gguf_writer_write_tensor(w, data_f16, sizeof data_f16, &err) == BC_OK, "%s", err.message);
    CHECK(bc_gguf_writer_write_tensor(w, q8, sizeof q8, &err) == BC_OK, "%s", err.message);
    CHECK(bc_gguf_writer_write_tensor(w, q4, sizeof q4, &err) == BC_OK, "%s", err.message);
    CHECK(bc_gguf_writer_end(w, &err) == BC_OK, "%s", err.message);
    bc_gguf_writer_free(w);
}

static void check_sample(const bc_gguf *g) {
    uint32_t u;
    float f;
    int b;
    bc_str s;
    const bc_gguf_kv *kv;
    const bc_gguf_tensor *t;
    CHECK(g->n_kv == 9 && g->n_tensors == 4, "counts %llu %llu", (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
    CHECK(bc_gguf_get_str(g, "general.architecture", &s) == BC_OK && s.len == 8 && !memcmp(s.ptr, "baichuan", 8), "arch");
    CHECK(bc_gguf_get_u32(g, "a.u32", &u) == BC_OK && u == 4096, "u32");
    CHECK(bc_gguf_get_u32(g, "a.i32", &u) != BC_OK, "negative i32 does not fit u32");
    CHECK(bc_gguf_get_f32(g, "a.f32", &f) == BC_OK && f == 1e-6f, "f32");
    CHECK(bc_gguf_get_bool(g, "a.bool", &b) == BC_OK && b == 1, "bool");
    CHECK(bc_gguf_get_u32(g, "missing", &u) != BC_OK, "missing key");
    kv = bc_gguf_find_kv(g, "a.strs");
    CHECK(kv && kv->n == 3 && kv->elem_type == BC_GGUF_STRING, "strs");
    CHECK(bc_gguf_array_str(g, kv, 2, &s) == BC_OK && s.len == 3 && !memcmp(s.ptr, "\xe4\xb8\xad", 3), "strs[2]");
    CHECK(bc_gguf_array_str(g, kv, 1, &s) == BC_OK && s.len == 0, "strs[1]");
    CHECK(bc_gguf_array_str(g, kv, 3, &s) != BC_OK, "strs[3] out of range");
    kv = bc_gguf_find_kv(g, "a.i32s");
    CHECK(kv && kv->n == 3 && (int32_t)(kv->data[0] | kv->data[1] << 8 | kv->data[2] << 16 | (uint32_t)kv->data[3] << 24) == -1, "i32s");
    t = bc_gguf_find_tensor(g, "t.f16");
    CHECK(t && t->type == BC_TYPE_F16 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 3 && t->nbytes == 384, "t.f16 info");
    CHECK(t && bc_fp16_to_f32(((const uint16_t *)t->data)[191]) == 191.0f, "t.f16 data");
    t = bc_gguf_find_tensor(g, "t.q8");
    CHECK(t && t->nbytes == 4 * 34 && ((const bc_block_q8_0 *)t->data)[3].qs[31] == 3, "t.q8");
    t = bc_gguf_find_tensor(g, "t.q4");
    CHECK(t && t->nbytes == 6 * 18 && ((uintptr_t)t->data - (uintptr_t)g->base) % 32 == 0, "t.q4 aligned");
    t = bc_gguf_find_tensor(g, "t.f32");
    CHECK(t && ((const float *)t->data)[4] == 5.0f, "t.f32");
}

/* Every prefix of the header region fails cleanly; so does every single-byte
   corruption of it to a few hostile values (errors or a consistent parse, never a crash). */
static void check_truncations_and_mutations(const unsigned char *buf, size_t n) {
    bc_gguf g;
    bc_error err;
    size_t cut, pos;
    int fails = 0, v;
    unsigned char *copy = (unsigned char *)malloc(n);
    static const unsigned char hostile[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (cut = 0; cut < n; cut++) {
        if (bc_gguf_open_buffer(&g, buf, cut, &err) == BC_OK) { fails++; bc_gguf_close(&g); }
    }
    CHECK(fails == 0, "%d truncated files were accepted", fails);
    for (pos = 0; pos < n && pos < 600; pos++) {
        for (v = 0; v < 5; v++) {
            memcpy(copy, buf, n);
            copy[pos] = hostile[v];
            if (bc_gguf_open_buffer(&g, copy, n, &err) == BC_OK) bc_gguf_close(&g);
        }
    }
    CHECK(1, "mutations survived");
    free(copy);
}

static void put_le(unsigned char *p, uint64_t v, int bytes) { int i; for (i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i)); }

static void check_hostile_headers(void) {
    unsigned char b[256];
    bc_gguf g;
    bc_error err;
    size_t n;
    /* tensor count near 2^64 */
    memset(b, 0, sizeof b);
    put_le(b, 0x46554747u, 4); put_le(b + 4, 3, 4); put_le(b + 8, UINT64_MAX - 1, 8); put_le(b + 16, 0, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 64, &err) == BC_ERR_FORMAT && strstr(err.message, "tensor count"), "huge tensor count: %s", err.message);
    /* key string length near 2^64 */
    put_le(b + 8, 0, 8); put_le(b + 16, 1, 8); put_le(b + 24, UINT64_MAX - 3, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 64, &err) == BC_ERR_FORMAT, "huge string length: %s", err.message);
    /* array length near 2^64 */
    put_le(b + 24, 1, 8); b[32] = 'k'; put_le(b + 33, BC_GGUF_ARRAY, 4); put_le(b + 37, BC_GGUF_UINT32, 4); put_le(b + 41, UINT64_MAX / 2, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 64, &err) == BC_ERR_FORMAT, "huge array length: %s", err.message);
    put_le(b + 37, BC_GGUF_STRING, 4);
    CHECK(bc_gguf_open_buffer(&g, b, 64, &err) == BC_ERR_FORMAT, "huge string array: %s", err.message);
    /* one tensor: name "t", n_dims, dims, type, offset */
    memset(b, 0, sizeof b);
    put_le(b, 0x46554747u, 4); put_le(b + 4, 3, 4); put_le(b + 8, 1, 8); put_le(b + 16, 0, 8);
    put_le(b + 24, 1, 8); b[32] = 't'; put_le(b + 33, 0, 4);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT && strstr(err.message, "n_dims"), "n_dims 0: %s", err.message);
    put_le(b + 33, 5, 4);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT, "n_dims 5: %s", err.message);
    put_le(b + 33, 2, 4); put_le(b + 37, (uint64_t)1 << 40, 8); put_le(b + 45, (uint64_t)1 << 40, 8);
    put_le(b + 53, BC_TYPE_F32, 4); put_le(b + 57, 0, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT, "dimension product overflow: %s", err.message);
    put_le(b + 37, 4, 8); put_le(b + 45, 2, 8); put_le(b + 57, 4096, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT && strstr(err.message, "past the file"), "offset past end: %s", err.message);
    put_le(b + 57, 0, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_OK, "valid one-tensor file: %s", err.message);
    bc_gguf_close(&g);
    put_le(b + 53, 77, 4);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_UNSUPPORTED && strstr(err.message, "77"), "unknown type: %s", err.message);
    /* two overlapping tensors */
    memset(b, 0, sizeof b);
    put_le(b, 0x46554747u, 4); put_le(b + 4, 3, 4); put_le(b + 8, 2, 8); put_le(b + 16, 0, 8);
    n = 24;
    put_le(b + n, 1, 8); b[n + 8] = 'a'; put_le(b + n + 9, 1, 4); put_le(b + n + 13, 16, 8); put_le(b + n + 21, 0, 4); put_le(b + n + 25, 0, 8);
    n += 33;
    put_le(b + n, 1, 8); b[n + 8] = 'b'; put_le(b + n + 9, 1, 4); put_le(b + n + 13, 16, 8); put_le(b + n + 21, 0, 4); put_le(b + n + 25, 64, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_OK, "adjacent tensors fine: %s", err.message);
    bc_gguf_close(&g);
    put_le(b + n + 25, 0, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT && strstr(err.message, "overlap"), "overlap: %s", err.message);
    b[n + 8] = 'a'; put_le(b + n + 25, 64, 8);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT && strstr(err.message, "duplicate"), "duplicate name: %s", err.message);
    /* wrong magic and version */
    b[0] = 'X';
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_FORMAT, "magic");
    b[0] = 'G'; put_le(b + 4, 1, 4);
    CHECK(bc_gguf_open_buffer(&g, b, 256, &err) == BC_ERR_UNSUPPORTED, "version 1");
    CHECK(bc_gguf_open_file(&g, "build/definitely-missing.gguf", &err) == BC_ERR_IO && strstr(err.message, "missing"), "missing file");
}

/* Files written by llama.cpp's gguf-py: values checked against what the python gguf
   package reports (tools/reference/make_gguf_fixtures.py -> tests/data/gguf/vocab_facts.txt). */
static void check_real_vocab_files(void) {
    size_t n;
    char *facts = (char *)bct_read_file("tests/data/gguf/vocab_facts.txt", &n);
    char *line, *save = NULL;
    bc_gguf g;
    bc_error err;
    char path[256] = "";
    int opened = 0;
    if (!facts) { CHECK(0, "tests/data/gguf/vocab_facts.txt missing"); return; }
    for (line = strtok_r(facts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128], kind[16], val[512];
        if (sscanf(line, "file %255s", path) == 1) {
            if (opened) bc_gguf_close(&g);
            opened = 0;
            if (bc_gguf_open_file(&g, path, &err) == BC_OK) opened = 1;
            else if (err.code == BC_ERR_IO) SKIP("%s not present", path);
            else CHECK(0, "%s: %s", path, err.message);
            continue;
        }
        if (!opened) continue;
        if (sscanf(line, "count %127s %511s", key, val) == 2) {
            unsigned long long want = strtoull(val, NULL, 10);
            CHECK((!strcmp(key, "kv") ? g.n_kv : g.n_tensors) == want, "%s count %s", path, key);
        } else if (sscanf(line, "%15s %127s %511[^\n]", kind, key, val) == 3) {
            const bc_gguf_kv *kv = bc_gguf_find_kv(&g, key);
            bc_str s;
            if (!strcmp(kind, "u32")) { uint32_t u = 0; CHECK(bc_gguf_get_u32(&g, key, &u) == BC_OK && u == strtoul(val, NULL, 10), "%s %s", path, key); }
            else if (!strcmp(kind, "str")) { CHECK(bc_gguf_get_str(&g, key, &s) == BC_OK && s.len == strlen(val) && !memcmp(s.ptr, val, s.len), "%s %s", path, key); }
            else if (!strcmp(kind, "arrlen")) { CHECK(kv && kv->n == strtoull(val, NULL, 10), "%s %s length", path, key); }
            else if (!strcmp(kind, "tok")) {
                unsigned long idx; char hex[400]; char bytes[200]; size_t k, m;
                sscanf(val, "%lu %399s", &idx, hex);
                m = strlen(hex) / 2;
                for (k = 0; k < m; k++) { unsigned x; sscanf(hex + 2 * k, "%2x", &x); bytes[k] = (char)x; }
                kv = bc_gguf_find_kv(&g, "tokenizer.ggml.tokens");
                CHECK(bc_gguf_array_str(&g, kv, idx, &s) == BC_OK && s.len == m && !memcmp(s.ptr, bytes, m), "%s token %lu", path, idx);
            }
        }
    }
    if (opened) bc_gguf_close(&g);
    free(facts);
}

/* A file written by the python gguf package's GGUFWriter (tools/reference/make_gguf_pywritten.py):
   every scalar type, arrays, and two tensors, with the values that script states. */
static int kv_is(const bc_gguf *g, const char *key, bc_gguf_type t, const void *v, size_t n) {
    const bc_gguf_kv *kv = bc_gguf_find_kv(g, key);
    return kv && kv->type == t && kv->n == 1 && memcmp(kv->data, v, n) == 0;
}

static void test_pywritten(void) {
    bc_gguf g;
    bc_error err;
    const bc_gguf_kv *kv;
    const bc_gguf_tensor *t;
    bc_str s;
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    uint32_t u32 = 4000000000u; int32_t i32 = -2000000000, arr[3] = {1, -2, 3};
    float f32 = 0.15625f; uint64_t u64 = ((uint64_t)1 << 63) + 5; int64_t i64 = -((int64_t)1 << 62);
    double f64 = -1.5; uint8_t b = 1;
    int i, ok = 1;
    memset(&g, 0, sizeof g);
    if (bc_gguf_open_file(&g, "tests/data/gguf/pywritten.bin", &err) != BC_OK) {
        CHECK(0, "pywritten.bin: %s", err.message);
        return;
    }
    CHECK(g.version == 3 && g.n_kv == 15 && g.n_tensors == 2 && g.alignment == 32, "pywritten header");
    CHECK(bc_gguf_get_str(&g, "general.architecture", &s) == BC_OK && s.len == 8 &&
          memcmp(s.ptr, "baichuan", 8) == 0, "pywritten architecture");
    CHECK(kv_is(&g, "k.u8", BC_GGUF_UINT8, &u8, 1) && kv_is(&g, "k.i8", BC_GGUF_INT8, &i8, 1), "u8 i8");
    CHECK(kv_is(&g, "k.u16", BC_GGUF_UINT16, &u16, 2) && kv_is(&g, "k.i16", BC_GGUF_INT16, &i16, 2), "u16 i16");
    CHECK(kv_is(&g, "k.u32", BC_GGUF_UINT32, &u32, 4) && kv_is(&g, "k.i32", BC_GGUF_INT32, &i32, 4), "u32 i32");
    CHECK(kv_is(&g, "k.u64", BC_GGUF_UINT64, &u64, 8) && kv_is(&g, "k.i64", BC_GGUF_INT64, &i64, 8), "u64 i64");
    CHECK(kv_is(&g, "k.f32", BC_GGUF_FLOAT32, &f32, 4) && kv_is(&g, "k.f64", BC_GGUF_FLOAT64, &f64, 8), "f32 f64");
    CHECK(kv_is(&g, "k.bool", BC_GGUF_BOOL, &b, 1), "bool");
    CHECK(bc_gguf_get_str(&g, "k.str", &s) == BC_OK && s.len == 6 && memcmp(s.ptr, "h\xc3\xa9llo", 6) == 0, "str");
    kv = bc_gguf_find_kv(&g, "k.arr_i32");
    CHECK(kv && kv->type == BC_GGUF_ARRAY && kv->elem_type == BC_GGUF_INT32 && kv->n == 3 &&
          memcmp(kv->data, arr, 12) == 0, "i32 array");
    kv = bc_gguf_find_kv(&g, "k.arr_str");
    CHECK(kv && kv->elem_type == BC_GGUF_STRING && kv->n == 3, "string array");
    if (kv && kv->n == 3) {
        CHECK(bc_gguf_array_str(&g, kv, 0, &s) == BC_OK && s.len == 1 && s.ptr[0] == 'a', "str[0]");
        CHECK(bc_gguf_array_str(&g, kv, 1, &s) == BC_OK && s.len == 0, "str[1]");
        CHECK(bc_gguf_array_str(&g, kv, 2, &s) == BC_OK && s.len == 6 &&
              memcmp(s.ptr, "\xe4\xb8\xad\xe6\x96\x87", 6) == 0, "str[2]");
        CHECK(bc_gguf_array_str(&g, kv, 3, &s) != BC_OK, "str[3] out of range");
    }
    t = bc_gguf_find_tensor(&g, "t.f32");
    CHECK(t && t->type == BC_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->nbytes == 24,
          "t.f32 shape");
    if (t) for (i = 0; i < 6; i++) ok &= ((const float *)t->data)[i] == (float)i;
    CHECK(ok, "t.f32 data 0..5");
    t = bc_gguf_find_tensor(&g, "t.f16");
    CHECK(t && t->type == BC_TYPE_F16 && t->n_dims == 1 && t->ne[0] == 64 && t->nbytes == 128, "t.f16 shape");
    ok = 1;
    if (t) for (i = 0; i < 64; i++) ok &= bc_fp16_to_f32(((const uint16_t *)t->data)[i]) == (float)i / 4;
    CHECK(ok, "t.f16 data i/4");
    bc_gguf_close(&g);
}

int main(void) {
    bc_gguf g;
    bc_error err;
    size_t n;
    unsigned char *buf;
    write_sample();
    CHECK(bc_gguf_open_file(&g, TMP, &err) == BC_OK, "%s", err.message);
    check_sample(&g);
    bc_gguf_close(&g);
    buf = bct_read_file(TMP, &n);
    CHECK(buf != NULL, "read back");
    if (buf) {
        uint64_t end = 0, i;
        CHECK(bc_gguf_open_buffer(&g, buf, n, &err) == BC_OK, "%s", err.message);
        check_sample(&g);
        for (i = 0; i < g.n_tensors; i++)
            if (g.data_offset + g.tensors[i].offset + g.tensors[i].nbytes > end)
                end = g.data_offset + g.tensors[i].offset + g.tensors[i].nbytes;
        bc_gguf_close(&g);
        /* only the padding after the last tensor's data may be cut without harm */
        check_truncations_and_mutations(buf, (size_t)end);
        free(buf);
    }
    check_hostile_headers();
    check_real_vocab_files();
    remove(TMP);
    test_pywritten();
    return bct_done();
}
