/* baichuan-convert: Hugging Face Baichuan 1/2 checkpoint -> GGUF (llama.cpp's "baichuan" layout).

     baichuan-convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]
     baichuan-convert HF_DIR -o VOCAB.gguf --vocab-only
     baichuan-convert --synthetic 7b|13b -o OUT.gguf [--type q4_0] [--vocab tokenizer.model]

   Reads config.json, generation_config.json, tokenizer_config.json, tokenizer.model and
   weights from pytorch_model.bin (zip + pickle), sharded .bin with an index, or
   safetensors (single or sharded), all in C. Tensors are streamed row by row, so memory
   stays small whatever the checkpoint size. The output appears only when complete.

   Each parser works on a memory buffer and is callable on its own (the fuzz harnesses
   include this file with -DBC_CONVERT_NO_MAIN). */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"

#include <errno.h>
#include <time.h>
#ifdef __unix__
#include <unistd.h>
#endif

#define CV_MAX_TENSORS 100000

/* ==========================================================================
   JSON (config files, safetensors headers, shard indexes)
   ========================================================================== */

typedef enum { JS_NULL, JS_BOOL, JS_NUM, JS_STR, JS_ARR, JS_OBJ } js_kind;

typedef struct js {
    js_kind kind;
    double num;
    char *str;                /* strings and object keys, NUL-terminated, unescaped */
    struct js *child;         /* arrays and objects: first element */
    struct js *next;          /* sibling */
    char *key;                /* as a member of an object */
} js;

typedef struct js_parser {
    const char *p, *end;
    int depth;
    const char *error;
} js_parser;

#define JS_MAX_DEPTH 64

static void js_free(js *v) {
    while (v) {
        js *next = v->next;
        js_free(v->child);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static void js_ws(js_parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

static void js_put_utf8(char *out, size_t *k, unsigned cp) {
    if (cp < 0x80) out[(*k)++] = (char)cp;
    else if (cp < 0x800) { out[(*k)++] = (char)(0xc0 | cp >> 6); out[(*k)++] = (char)(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) { out[(*k)++] = (char)(0xe0 | cp >> 12); out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[(*k)++] = (char)(0x80 | (cp & 0x3f)); }
    else { out[(*k)++] = (char)(0xf0 | cp >> 18); out[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f)); out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[(*k)++] = (char)(0x80 | (cp & 0x3f)); }
}

static int js_hex4(const char *p, unsigned *v) {
    int i;
    *v = 0;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    return 1;
}

static char *js_string(js_parser *ps) {
    const char *start = ++ps->p;
    size_t k = 0;
    char *out;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\\') ps->p++;
        ps->p++;
    }
    if (ps->p >= ps->end) { ps->error = "unterminated string"; return NULL; }
    out = (char *)malloc((size_t)(ps->p - start) + 1);
    if (!out) { ps->error = "out of memory"; return NULL; }
    ps->p = start;
    while (*ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) { free(out); ps->error = "control character in string"; return NULL; }
        if (c != '\\') { out[k++] = c; continue; }
        c = *ps->p++;
        switch (c) {
        case '"': out[k++] = '"'; break;
        case '\\': out[k++] = '\\'; break;
        case '/': out[k++] = '/'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (ps->end - ps->p < 4 || !js_hex4(ps->p, &cp)) { free(out); ps->error = "bad \\u escape"; return NULL; }
            ps->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u' && js_hex4(ps->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                ps->p += 6;
            }
            js_put_utf8(out, &k, cp); /* a \uXXXX escape never needs more than its 6 source bytes */
            break;
        }
        default: free(out); ps->error = "bad escape"; return NULL;
        }
    }
    ps->p++;
    out[k] = 0;
    return out;
}

static js *js_value(js_parser *ps);

static js *js_new(js_parser *ps, js_kind kind) {
    js *v = (js *)calloc(1, sizeof(js));
    if (!v) ps->error = "out of memory";
    else v->kind = kind;
    return v;
}

static js *js_container(js_parser *ps, int is_obj) {
    js *v = js_new(ps, is_obj ? JS_OBJ : JS_ARR), **tail;
    if (!v) return NULL;
    tail = &v->child;
    if (++ps->depth > JS_MAX_DEPTH) { ps->error = "nested too deeply"; free(v); return NULL; }
    ps->p++;
    js_ws(ps);
    if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) { ps->p++; ps->depth--; return v; }
    for (;;) {
        char *key = NULL;
        js *item;
        js_ws(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') { ps->error = "expected a key"; js_free(v); return NULL; }
            if (!(key = js_string(ps))) { js_free(v); return NULL; }
            js_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') { ps->error = "expected ':'"; free(key); js_free(v); return NULL; }
            ps->p++;
        }
        item = js_value(ps);
        if (!item) { free(key); js_free(v); return NULL; }
        item->key = key;
        *tail = item;
        tail = &item->next;
        js_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) { ps->p++; break; }
        ps->error = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
        js_free(v);
        return NULL;
    }
    ps->depth--;
    return v;
}

static js *js_value(js_parser *ps) {
    js *v;
    js_ws(ps);
    if (ps->p >= ps->end) { ps->error = "unexpected end"; return NULL; }
    switch (*ps->p) {
    case '{': return js_container(ps, 1);
    case '[': return js_container(ps, 0);
    case '"':
        if (!(v = js_new(ps, JS_STR))) return NULL;
        if (!(v->str = js_string(ps))) { free(v); return NULL; }
        return v;
    case 't': case 'f': case 'n': {
        const char *words[3] = {"true", "false", "null"};
        int i;
        for (i = 0; i < 3; i++) {
            size_t n = strlen(words[i]);
            if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, words[i], n)) {
                if (!(v = js_new(ps, i == 2 ? JS_NULL : JS_BOOL))) return NULL;
                v->num = i == 0;
                ps->p += n;
                return v;
            }
        }
        ps->error = "bad literal";
        return NULL;
    }
    default: {
        char buf[64], *endp;
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", ps->p[n])) n++;
        memcpy(buf, ps->p, n);
        buf[n] = 0;
        if (!(v = js_new(ps, JS_NUM))) return NULL;
        v->num = strtod(buf, &endp);
        if (n == 0 || endp != buf + n) { free(v); ps->error = "bad number"; return NULL; }
        ps->p += n;
        return v;
    }
    }
}

/* Parses a whole document; NULL with *error set on failure. */
static js *js_parse(const char *text, size_t len, const char **error) {
    js_parser ps;
    js *v;
    ps.p = text;
    ps.end = text + len;
    ps.depth = 0;
    ps.error = NULL;
    v = js_value(&ps);
    if (v) {
        js_ws(&ps);
        if (ps.p != ps.end) { js_free(v); v = NULL; ps.error = "trailing characters"; }
    }
    *error = ps.error;
    return v;
}

static const js *js_get(const js *obj, const char *key) {
    const js *c;
    if (!obj || obj->kind != JS_OBJ) return NULL;
    for (c = obj->child; c; c = c->next)
        if (c->key && !strcmp(c->key, key)) return c;
    return NULL;
}

static int js_int(const js *obj, const char *key, long long *out) {
    const js *v = js_get(obj, key);
    if (!v || v->kind != JS_NUM || v->num != (double)(long long)v->num) return 0;
    *out = (long long)v->num;
    return 1;
}

/* ==========================================================================
   Checkpoint tensors: one list, whatever the file format
   ========================================================================== */

typedef enum { DT_F32, DT_F16, DT_BF16 } cv_dtype;

typedef struct cv_tensor {
    char *name;
    cv_dtype dtype;
    int n_dims;
    int64_t shape[4];         /* PyTorch order: shape[n_dims-1] contiguous */
    const uint8_t *data;
    uint64_t nbytes;
} cv_tensor;

typedef struct cv_files {
    bc__file_data maps[64];
    int n_maps;
    cv_tensor *t;
    int n, cap;
} cv_files;

static int cv_dtype_size(cv_dtype d) { return d == DT_F32 ? 4 : 2; }

static bc_result cv_add_tensor(cv_files *cf, const char *name, cv_dtype dt, int n_dims, const int64_t *shape,
                               const uint8_t *data, uint64_t nbytes, bc_error *err) {
    cv_tensor *t;
    uint64_t n = 1;
    int i;
    if (n_dims < 1 || n_dims > 4) return bc__fail(err, BC_ERR_FORMAT, "tensor '%s' has %d dimensions", name, n_dims);
    for (i = 0; i < n_dims; i++)
        if (shape[i] <= 0 || bc__mul_overflows(n, (uint64_t)shape[i], &n)) return bc__fail(err, BC_ERR_FORMAT, "tensor '%s': bad shape", name);
    if (bc__mul_overflows(n, (uint64_t)cv_dtype_size(dt), &n) || n != nbytes)
        return bc__fail(err, BC_ERR_FORMAT, "tensor '%s': %llu bytes of data for its shape needing %llu", name, (unsigned long long)nbytes, (unsigned long long)n);
    if (cf->n >= CV_MAX_TENSORS) return bc__fail(err, BC_ERR_FORMAT, "too many tensors");
    if (cf->n == cf->cap) {
        int cap = cf->cap ? cf->cap * 2 : 64;
        cv_tensor *nt = (cv_tensor *)realloc(cf->t, (size_t)cap * sizeof *nt);
        if (!nt) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
        cf->t = nt;
        cf->cap = cap;
    }
    t = &cf->t[cf->n];
    memset(t, 0, sizeof *t);
    t->name = (char *)malloc(strlen(name) + 1);
    if (!t->name) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    strcpy(t->name, name);
    t->dtype = dt;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, (size_t)n_dims * sizeof(int64_t));
    t->data = data;
    t->nbytes = nbytes;
    cf->n++;
    return BC_OK;
}

static const cv_tensor *cv_find(const cv_files *cf, const char *name) {
    int i;
    for (i = 0; i < cf->n; i++)
        if (!strcmp(cf->t[i].name, name)) return &cf->t[i];
    return NULL;
}

static void cv_files_free(cv_files *cf) {
    int i;
    for (i = 0; i < cf->n; i++) free(cf->t[i].name);
    free(cf->t);
    for (i = 0; i < cf->n_maps; i++) bc__release_file(&cf->maps[i]);
    memset(cf, 0, sizeof *cf);
}

static bc_result cv_map(cv_files *cf, const char *path, const bc__file_data **out, bc_error *err) {
    bc_result r;
    if (cf->n_maps == (int)(sizeof cf->maps / sizeof cf->maps[0])) return bc__fail(err, BC_ERR_UNSUPPORTED, "too many weight files");
    r = bc__read_whole_file(&cf->maps[cf->n_maps], path, 1, err);
    if (r != BC_OK) return r;
    *out = &cf->maps[cf->n_maps++];
    return BC_OK;
}

/* --- safetensors ------------------------------------------------------------ */

static bc_result cv_parse_safetensors(cv_files *cf, const uint8_t *data, uint64_t size, const char *what, bc_error *err) {
    uint64_t hlen;
    const char *jerr;
    js *root;
    const js *e;
    bc_result r = BC_OK;
    if (size < 8) return bc__fail(err, BC_ERR_FORMAT, "%s: too short for safetensors", what);
    hlen = bc__rd_le(data, 8);
    if (hlen > size - 8) return bc__fail(err, BC_ERR_FORMAT, "%s: safetensors header of %llu bytes is larger than the file", what, (unsigned long long)hlen);
    root = js_parse((const char *)data + 8, (size_t)hlen, &jerr);
    if (!root || root->kind != JS_OBJ) {
        js_free(root);
        return bc__fail(err, BC_ERR_FORMAT, "%s: bad safetensors header: %s", what, jerr ? jerr : "not an object");
    }
    for (e = root->child; e && r == BC_OK; e = e->next) {
        const js *dt = js_get(e, "dtype"), *shape = js_get(e, "shape"), *off = js_get(e, "data_offsets"), *c;
        int64_t dims[4];
        int nd = 0;
        cv_dtype d;
        double a, b;
        if (!strcmp(e->key, "__metadata__")) continue;
        if (!dt || dt->kind != JS_STR || !shape || shape->kind != JS_ARR || !off || off->kind != JS_ARR || !off->child || !off->child->next) {
            r = bc__fail(err, BC_ERR_FORMAT, "%s: tensor '%s' has a malformed header entry", what, e->key);
            break;
        }
        if (!strcmp(dt->str, "F32")) d = DT_F32;
        else if (!strcmp(dt->str, "F16")) d = DT_F16;
        else if (!strcmp(dt->str, "BF16")) d = DT_BF16;
        else { r = bc__fail(err, BC_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype %s", what, e->key, dt->str); break; }
        for (c = shape->child; c; c = c->next) {
            if (nd == 4 || c->kind != JS_NUM || c->num < 1 || c->num > 1e15) { nd = -1; break; }
            dims[nd++] = (int64_t)c->num;
        }
        a = off->child->num;
        b = off->child->next->num;
        if (nd <= 0 || a < 0 || b < a || b > (double)(size - 8 - hlen)) {
            r = bc__fail(err, BC_ERR_FORMAT, "%s: tensor '%s' has a bad shape or data offsets outside the file", what, e->key);
            break;
        }
        r = cv_add_tensor(cf, e->key, d, nd, dims, data + 8 + hlen + (uint64_t)a, (uint64_t)(b - a), err);
    }
    js_free(root);
    return r;
}

/* --- zip (PyTorch's archive: stored entries, ZIP64 for large files) --------- */

typedef struct cv_zip_entry {
    char name[256];
    uint64_t offset;          /* of the data */
    uint64_t size;
} cv_zip_entry;

typedef struct cv_zip {
    cv_zip_entry *e;
    int n;
} cv_zip;

static bc_result cv_parse_zip(cv_zip *z, const uint8_t *d, uint64_t size, const char *what, bc_error *err) {
    uint64_t eocd = 0, cd_off, cd_size, n_entries, pos, i;
    int found = 0;
    memset(z, 0, sizeof *z);
    if (size < 22) return bc__fail(err, BC_ERR_FORMAT, "%s: not a zip archive", what);
    for (pos = size - 22 + 1; pos-- > 0 && size - pos <= 22 + 65535;)
        if (bc__rd_le(d + pos, 4) == 0x06054b50) { eocd = pos; found = 1; break; }
    if (!found) return bc__fail(err, BC_ERR_FORMAT, "%s: not a zip archive (no end record)", what);
    n_entries = bc__rd_le(d + eocd + 10, 2);
    cd_size = bc__rd_le(d + eocd + 12, 4);
    cd_off = bc__rd_le(d + eocd + 16, 4);
    if (eocd >= 20 && bc__rd_le(d + eocd - 20, 4) == 0x07064b50) { /* ZIP64 locator */
        uint64_t z64 = bc__rd_le(d + eocd - 20 + 8, 8);
        if (size < 56 || z64 > size - 56 || bc__rd_le(d + z64, 4) != 0x06064b50) return bc__fail(err, BC_ERR_FORMAT, "%s: bad ZIP64 end record", what);
        n_entries = bc__rd_le(d + z64 + 32, 8);
        cd_size = bc__rd_le(d + z64 + 40, 8);
        cd_off = bc__rd_le(d + z64 + 48, 8);
    }
    if (cd_off > size || cd_size > size - cd_off || n_entries > cd_size / 46)
        return bc__fail(err, BC_ERR_FORMAT, "%s: zip central directory lies outside the file", what);
    z->e = (cv_zip_entry *)calloc((size_t)(n_entries ? n_entries : 1), sizeof(cv_zip_entry));
    if (!z->e) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    pos = cd_off;
    for (i = 0; i < n_entries; i++) {
        uint64_t method, csize, usize, nlen, xlen, clen, loff, lpos, x, data;
        cv_zip_entry *e = &z->e[z->n];
        if (pos + 46 > cd_off + cd_size || bc__rd_le(d + pos, 4) != 0x02014b50) return bc__fail(err, BC_ERR_FORMAT, "%s: corrupt zip directory entry %llu", what, (unsigned long long)i);
        method = bc__rd_le(d + pos + 10, 2);
        csize = bc__rd_le(d + pos + 20, 4);
        usize = bc__rd_le(d + pos + 24, 4);
        nlen = bc__rd_le(d + pos + 28, 2);
        xlen = bc__rd_le(d + pos + 30, 2);
        clen = bc__rd_le(d + pos + 32, 2);
        loff = bc__rd_le(d + pos + 42, 4);
        if (46 + nlen + xlen + clen > cd_off + cd_size - pos) return bc__fail(err, BC_ERR_FORMAT, "%s: corrupt zip directory entry %llu", what, (unsigned long long)i);
        /* ZIP64 extra field: the 64-bit values present are those whose 32-bit field is all ones */
        for (x = pos + 46 + nlen; x + 4 <= pos + 46 + nlen + xlen;) {
            uint64_t id = bc__rd_le(d + x, 2), sz = bc__rd_le(d + x + 2, 2), q = x + 4;
            if (x + 4 + sz > pos + 46 + nlen + xlen) break;
            if (id == 1) {
                if (usize == 0xffffffffu && q + 8 <= x + 4 + sz) { usize = bc__rd_le(d + q, 8); q += 8; }
                if (csize == 0xffffffffu && q + 8 <= x + 4 + sz) { csize = bc__rd_le(d + q, 8); q += 8; }
                if (loff == 0xffffffffu && q + 8 <= x + 4 + sz) { loff = bc__rd_le(d + q, 8); q += 8; }
            }
            x += 4 + sz;
        }
        if (nlen >= sizeof e->name) return bc__fail(err, BC_ERR_FORMAT, "%s: zip entry name too long", what);
        memcpy(e->name, d + pos + 46, (size_t)nlen);
        e->name[nlen] = 0;
        if (method != 0) return bc__fail(err, BC_ERR_UNSUPPORTED, "%s: entry '%s' is compressed (method %llu); PyTorch writes stored entries", what, e->name, (unsigned long long)method);
        if (csize != usize) return bc__fail(err, BC_ERR_FORMAT, "%s: entry '%s' sizes disagree (%llu vs %llu)", what, e->name, (unsigned long long)csize, (unsigned long long)usize);
        if (size < 30 || loff > size - 30 || bc__rd_le(d + loff, 4) != 0x04034b50) return bc__fail(err, BC_ERR_FORMAT, "%s: entry '%s' has a bad local header", what, e->name);
        lpos = loff + 30 + bc__rd_le(d + loff + 26, 2) + bc__rd_le(d + loff + 28, 2);
        data = lpos;
        if (data > size || usize > size - data) return bc__fail(err, BC_ERR_FORMAT, "%s: entry '%s' data lies outside the file", what, e->name);
        e->offset = data;
        e->size = usize;
        z->n++;
        pos += 46 + nlen + xlen + clen;
    }
    return BC_OK;
}

static const cv_zip_entry *cv_zip_find_suffix(const cv_zip *z, const char *suffix) {
    int i;
    size_t n = strlen(suffix);
    for (i = 0; i < z->n; i++) {
        size_t m = strlen(z->e[i].name);
        if (m >= n && !strcmp(z->e[i].name + m - n, suffix)) return &z->e[i];
    }
    return NULL;
}

/* --- pickle (the subset torch.save uses for a state dict) ------------------- */

typedef enum { PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_MARK, PK_OTHER } pk_kind;

typedef struct pk {
    pk_kind kind;
    long long i;
    char *s;                  /* strings; globals as "module.name"; storage key */
    struct pk **items;        /* tuples; dicts as key, value, key, value... */
    int n_items;
    /* storages and tensors */
    cv_dtype dtype;
    long long offset;
    int n_dims;
    int64_t shape[4], stride[4];
    struct pk *storage;
} pk;

typedef struct pk_vm {
    pk **stack;
    int sp, cap;
    pk **memo;
    int64_t memo_cap;
    pk **all;                 /* every object, freed at the end */
    int n_all, cap_all;
    const char *error;
} pk_vm;

static pk *pk_new(pk_vm *vm, pk_kind kind) {
    pk *o;
    if (vm->n_all == vm->cap_all) {
        int cap = vm->cap_all ? vm->cap_all * 2 : 256;
        pk **na = (pk **)realloc(vm->all, (size_t)cap * sizeof *na);
        if (!na) { vm->error = "out of memory"; return NULL; }
        vm->all = na;
        vm->cap_all = cap;
    }
    o = (pk *)calloc(1, sizeof *o);
    if (!o) { vm->error = "out of memory"; return NULL; }
    o->kind = kind;
    vm->all[vm->n_all++] = o;
    return o;
}

static void pk_vm_free(pk_vm *vm) {
    int i;
    for (i = 0; i < vm->n_all; i++) {
        free(vm->all[i]->s);
        free(vm->all[i]->items);
        free(vm->all[i]);
    }
    free(vm->all);
    free(vm->stack);
    free(vm->memo);
}

static int pk_push(pk_vm *vm, pk *o) {
    if (!o) return 0;
    if (vm->sp == vm->cap) {
        int cap = vm->cap ? vm->cap * 2 : 64;
        pk **ns;
        if (cap > 1 << 22) { vm->error = "pickle stack too deep"; return 0; }
        ns = (pk **)realloc(vm->stack, (size_t)cap * sizeof *ns);
        if (!ns) { vm->error = "out of memory"; return 0; }
        vm->stack = ns;
        vm->cap = cap;
    }
    vm->stack[vm->sp++] = o;
    return 1;
}

static pk *pk_pop(pk_vm *vm) {
    if (vm->sp == 0) { vm->error = "pickle stack underflow"; return NULL; }
    return vm->stack[--vm->sp];
}

static int pk_mark_pos(pk_vm *vm) {
    int i;
    for (i = vm->sp - 1; i >= 0; i--)
        if (vm->stack[i]->kind == PK_MARK) return i;
    vm->error = "pickle MARK missing";
    return -1;
}

static int pk_append_items(pk_vm *vm, pk *o, pk **items, int n) {
    pk **ni;
    if (n == 0) return 1;
    ni = (pk **)realloc(o->items, (size_t)(o->n_items + n) * sizeof *ni);
    if (!ni) { vm->error = "out of memory"; return 0; }
    o->items = ni;
    memcpy(o->items + o->n_items, items, (size_t)n * sizeof *ni);
    o->n_items += n;
    return 1;
}

static pk *pk_tuple_from(pk_vm *vm, int from) {
    pk *t = pk_new(vm, PK_TUPLE);
    if (!t || !pk_append_items(vm, t, vm->stack + from, vm->sp - from)) return NULL;
    vm->sp = from;
    return t;
}

static int pk_memo_put(pk_vm *vm, int64_t idx, pk *o) {
    if (idx < 0 || idx > (1 << 24)) { vm->error = "pickle memo index out of range"; return 0; }
    if (idx >= vm->memo_cap) {
        int64_t cap = vm->memo_cap ? vm->memo_cap : 256;
        pk **nm;
        while (cap <= idx) cap *= 2;
        nm = (pk **)realloc(vm->memo, (size_t)cap * sizeof *nm);
        if (!nm) { vm->error = "out of memory"; return 0; }
        memset(nm + vm->memo_cap, 0, (size_t)(cap - vm->memo_cap) * sizeof *nm);
        vm->memo = nm;
        vm->memo_cap = cap;
    }
    vm->memo[idx] = o;
    return 1;
}

static pk *pk_str(pk_vm *vm, pk_kind kind, const uint8_t *s, uint64_t n) {
    pk *o = pk_new(vm, kind);
    if (!o) return NULL;
    o->s = (char *)malloc((size_t)n + 1);
    if (!o->s) { vm->error = "out of memory"; return NULL; }
    memcpy(o->s, s, (size_t)n);
    o->s[n] = 0;
    return o;
}

static int pk_dtype_of_storage(const char *g, cv_dtype *dt) {
    if (!strcmp(g, "torch.FloatStorage")) *dt = DT_F32;
    else if (!strcmp(g, "torch.HalfStorage")) *dt = DT_F16;
    else if (!strcmp(g, "torch.BFloat16Storage")) *dt = DT_BF16;
    else return 0;
    return 1;
}

/* persistent_load(('storage', torch.XStorage, key, location, numel)) */
static pk *pk_persistent(pk_vm *vm, pk *pid) {
    pk *st;
    if (!pid || pid->kind != PK_TUPLE || pid->n_items < 5 || pid->items[0]->kind != PK_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != PK_GLOBAL || pid->items[2]->kind != PK_STR) {
        vm->error = "unsupported persistent id (not a torch storage)";
        return NULL;
    }
    st = pk_new(vm, PK_STORAGE);
    if (!st) return NULL;
    if (!pk_dtype_of_storage(pid->items[1]->s, &st->dtype)) { vm->error = "unsupported storage type (only float32, float16, bfloat16)"; return NULL; }
    st->s = (char *)malloc(strlen(pid->items[2]->s) + 1);
    if (!st->s) { vm->error = "out of memory"; return NULL; }
    strcpy(st->s, pid->items[2]->s);
    return st;
}

static int pk_int_tuple(const pk *t, int64_t *out, int max) {
    int i;
    if (!t || t->kind != PK_TUPLE || t->n_items > max) return -1;
    for (i = 0; i < t->n_items; i++) {
        if (t->items[i]->kind != PK_INT) return -1;
        out[i] = t->items[i]->i;
    }
    return t->n_items;
}

/* REDUCE: only the callables a state dict needs. */
static pk *pk_reduce(pk_vm *vm, pk *fn, pk *args) {
    pk *o;
    if (!fn || !args || fn->kind != PK_GLOBAL || args->kind != PK_TUPLE) { vm->error = "bad REDUCE"; return NULL; }
    if (!strcmp(fn->s, "collections.OrderedDict")) return pk_new(vm, PK_DICT);
    if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2") || !strcmp(fn->s, "torch._utils._rebuild_tensor")) {
        int nd, ns;
        if (args->n_items < 4 || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT) { vm->error = "bad _rebuild_tensor_v2 arguments"; return NULL; }
        o = pk_new(vm, PK_TENSOR);
        if (!o) return NULL;
        o->storage = args->items[0];
        o->offset = args->items[1]->i;
        nd = pk_int_tuple(args->items[2], o->shape, 4);
        ns = pk_int_tuple(args->items[3], o->stride, 4);
        if (nd < 0 || ns != nd || o->offset < 0) { vm->error = "bad tensor shape or stride (more than 4 dims?)"; return NULL; }
        o->n_dims = nd;
        return o;
    }
    if (!strcmp(fn->s, "torch._utils._rebuild_parameter") && args->n_items >= 1) return args->items[0];
    vm->error = "pickle calls an unsupported global";
    return NULL;
}

static bc_result pk_run(pk_vm *vm, const uint8_t *p, uint64_t n, pk **result, const char *what, bc_error *err) {
    const uint8_t *end = p + n;
    memset(vm, 0, sizeof *vm);
#define PK_NEED(k) do { if ((uint64_t)(end - p) < (uint64_t)(k)) { vm->error = "truncated"; goto fail; } } while (0)
    while (p < end) {
        uint8_t op = *p++;
        pk *o, *a, *b;
        uint64_t len;
        int m, i;
        switch (op) {
        case 0x80: PK_NEED(1); p++; break;                     /* PROTO */
        case 0x95: PK_NEED(8); p += 8; break;                  /* FRAME */
        case '}': if (!pk_push(vm, pk_new(vm, PK_DICT))) goto fail; break;
        case ']': case ')': if (!pk_push(vm, pk_new(vm, PK_TUPLE))) goto fail; break;
        case '(': if (!pk_push(vm, pk_new(vm, PK_MARK))) goto fail; break;
        case 'N': if (!pk_push(vm, pk_new(vm, PK_NONE))) goto fail; break;
        case 0x88: case 0x89:
            if (!(o = pk_new(vm, PK_BOOL)) || !pk_push(vm, o)) goto fail;
            o->i = op == 0x88;
            break;
        case 'K': PK_NEED(1); if (!(o = pk_new(vm, PK_INT)) || !pk_push(vm, o)) goto fail; o->i = p[0]; p += 1; break;
        case 'M': PK_NEED(2); if (!(o = pk_new(vm, PK_INT)) || !pk_push(vm, o)) goto fail; o->i = (long long)bc__rd_le(p, 2); p += 2; break;
        case 'J': PK_NEED(4); if (!(o = pk_new(vm, PK_INT)) || !pk_push(vm, o)) goto fail; o->i = (int32_t)bc__rd_le(p, 4); p += 4; break;
        case 0x8a:                                             /* LONG1 */
            PK_NEED(1); len = *p++; PK_NEED(len);
            if (len > 8 || !(o = pk_new(vm, PK_INT)) || !pk_push(vm, o)) { vm->error = vm->error ? vm->error : "LONG1 too large"; goto fail; }
            o->i = len ? (long long)bc__rd_le(p, (int)len) : 0;
            if (len && len < 8 && (p[len - 1] & 0x80)) o->i -= (long long)1 << (8 * len);
            p += len;
            break;
        case 'G': PK_NEED(8); if (!(o = pk_new(vm, PK_FLOAT)) || !pk_push(vm, o)) goto fail; p += 8; break;
        case 'X': case 0x8c: case 0x8d: case 'C': case 'B': {  /* strings and bytes */
            int w = op == 'X' || op == 'B' ? 4 : op == 0x8d ? 8 : 1;
            PK_NEED(w); len = bc__rd_le(p, w); p += w; PK_NEED(len);
            if (!pk_push(vm, pk_str(vm, op == 'C' || op == 'B' ? PK_OTHER : PK_STR, p, len))) goto fail;
            p += len;
            break;
        }
        case 'c': {                                            /* GLOBAL module\nname\n */
            const uint8_t *nl1 = (const uint8_t *)memchr(p, '\n', (size_t)(end - p)), *nl2;
            char buf[256];
            if (!nl1 || !(nl2 = (const uint8_t *)memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1))) || nl2 - p >= (long)sizeof buf) { vm->error = "bad GLOBAL"; goto fail; }
            memcpy(buf, p, (size_t)(nl2 - p));
            buf[nl1 - p] = '.';
            buf[nl2 - p] = 0;
            if (!pk_push(vm, pk_str(vm, PK_GLOBAL, (const uint8_t *)buf, strlen(buf)))) goto fail;
            p = nl2 + 1;
            break;
        }
        case 0x93: {                                           /* STACK_GLOBAL */
            char buf[512];
            b = pk_pop(vm); a = pk_pop(vm);
            if (!a || !b || a->kind != PK_STR || b->kind != PK_STR || strlen(a->s) + strlen(b->s) + 2 > sizeof buf) { vm->error = "bad STACK_GLOBAL"; goto fail; }
            memcpy(buf, a->s, strlen(a->s));
            buf[strlen(a->s)] = '.';
            memcpy(buf + strlen(a->s) + 1, b->s, strlen(b->s) + 1);
            if (!pk_push(vm, pk_str(vm, PK_GLOBAL, (const uint8_t *)buf, strlen(buf)))) goto fail;
            break;
        }
        case 'q': PK_NEED(1); if (vm->sp == 0 || !pk_memo_put(vm, p[0], vm->stack[vm->sp - 1])) { vm->error = vm->error ? vm->error : "BINPUT on empty stack"; goto fail; } p += 1; break;
        case 'r': PK_NEED(4); if (vm->sp == 0 || !pk_memo_put(vm, (int64_t)bc__rd_le(p, 4), vm->stack[vm->sp - 1])) { vm->error = vm->error ? vm->error : "LONG_BINPUT on empty stack"; goto fail; } p += 4; break;
        case 0x94: {                                           /* MEMOIZE */
            int64_t idx = 0;
            while (idx < vm->memo_cap && vm->memo[idx]) idx++;
            if (vm->sp == 0 || !pk_memo_put(vm, idx, vm->stack[vm->sp - 1])) { vm->error = vm->error ? vm->error : "MEMOIZE on empty stack"; goto fail; }
            break;
        }
        case 'h': case 'j': {
            int64_t idx;
            if (op == 'h') { PK_NEED(1); idx = p[0]; p += 1; } else { PK_NEED(4); idx = (int64_t)bc__rd_le(p, 4); p += 4; }
            if (idx >= vm->memo_cap || !vm->memo[idx]) { vm->error = "pickle memo reference to nothing"; goto fail; }
            if (!pk_push(vm, vm->memo[idx])) goto fail;
            break;
        }
        case 't': if ((m = pk_mark_pos(vm)) < 0 || !(o = pk_tuple_from(vm, m + 1))) goto fail; vm->sp = m; if (!pk_push(vm, o)) goto fail; break;
        case 0x85: case 0x86: case 0x87:
            m = op - 0x84;
            if (vm->sp < m) { vm->error = "pickle stack underflow"; goto fail; }
            if (!(o = pk_tuple_from(vm, vm->sp - m)) || !pk_push(vm, o)) goto fail;
            break;
        case 'Q':                                              /* BINPERSID */
            if (!pk_push(vm, pk_persistent(vm, pk_pop(vm)))) goto fail;
            break;
        case 'R': b = pk_pop(vm); a = pk_pop(vm); if (!pk_push(vm, pk_reduce(vm, a, b))) goto fail; break;
        case 0x81: b = pk_pop(vm); a = pk_pop(vm); if (!pk_push(vm, pk_reduce(vm, a, b))) goto fail; break; /* NEWOBJ */
        case 's': case 'u': case 'a': case 'e': {
            int from;
            pk *target;
            if (op == 's' || op == 'a') from = vm->sp - (op == 's' ? 2 : 1);
            else { if ((m = pk_mark_pos(vm)) < 0) goto fail; from = m + 1; }
            /* the target sits below the items (below the MARK for the batch forms) */
            if (from < ((op == 's' || op == 'a') ? 1 : 2) || (op == 's' || op == 'u' ? (vm->sp - from) % 2 : 0)) { vm->error = "bad SETITEM(S)/APPEND(S)"; goto fail; }
            target = vm->stack[(op == 's' || op == 'a') ? from - 1 : from - 2];
            if ((op == 's' || op == 'u') && target->kind != PK_DICT) { vm->error = "SETITEM on a non-dict"; goto fail; }
            if (!pk_append_items(vm, target, vm->stack + from, vm->sp - from)) goto fail;
            vm->sp = (op == 's' || op == 'a') ? from : from - 1;
            break;
        }
        case 'b': if (!pk_pop(vm)) goto fail; break;           /* BUILD: state ignored */
        case '.':
            if (vm->sp != 1) { vm->error = "pickle ends with a stack that is not one object"; goto fail; }
            *result = vm->stack[0];
            return BC_OK;
        default:
            for (i = 0; i < 1; i++) {}
            return bc__fail(err, BC_ERR_UNSUPPORTED, "%s: unsupported pickle opcode 0x%02x", what, op);
        }
    }
    vm->error = "pickle has no STOP";
fail:
#undef PK_NEED
    return bc__fail(err, BC_ERR_FORMAT, "%s: corrupt pickle: %s", what, vm->error ? vm->error : "unknown");
}

/* A torch.save'd state dict: the pickle names storages stored as zip entries. */
static bc_result cv_parse_torch_bin(cv_files *cf, const uint8_t *d, uint64_t size, const char *what, bc_error *err) {
    cv_zip z;
    pk_vm vm;
    pk *root = NULL;
    const cv_zip_entry *pkl;
    char prefix[256];
    bc_result r;
    int i;
    r = cv_parse_zip(&z, d, size, what, err);
    if (r != BC_OK) { free(z.e); return r; }
    pkl = cv_zip_find_suffix(&z, "/data.pkl");
    if (!pkl) { free(z.e); return bc__fail(err, BC_ERR_FORMAT, "%s: no data.pkl in the archive (not a torch.save file?)", what); }
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(pkl->name) - strlen("data.pkl")), pkl->name);
    r = pk_run(&vm, d + pkl->offset, pkl->size, &root, what, err);
    if (r == BC_OK && root->kind != PK_DICT) r = bc__fail(err, BC_ERR_FORMAT, "%s: the pickle is not a state dict", what);
    for (i = 0; r == BC_OK && i + 1 < (root ? root->n_items : 0); i += 2) {
        pk *k = root->items[i], *t = root->items[i + 1];
        char entry[300];
        const cv_zip_entry *st;
        int64_t expect = 1;
        int j, es;
        uint64_t start, nbytes = 0;
        if (k->kind != PK_STR || t->kind != PK_TENSOR) { r = bc__fail(err, BC_ERR_FORMAT, "%s: state dict entry %d is not a named tensor", what, i / 2); break; }
        snprintf(entry, sizeof entry, "%sdata/%s", prefix, t->storage->s);
        st = NULL;
        for (j = 0; j < z.n; j++) if (!strcmp(z.e[j].name, entry)) st = &z.e[j];
        if (!st) { r = bc__fail(err, BC_ERR_FORMAT, "%s: tensor '%s' refers to missing storage '%s'", what, k->s, t->storage->s); break; }
        for (j = t->n_dims - 1; j >= 0; j--) {
            if (t->shape[j] != 1 && t->stride[j] != expect) { r = bc__fail(err, BC_ERR_UNSUPPORTED, "%s: tensor '%s' is not contiguous", what, k->s); break; }
            expect *= t->shape[j];
        }
        if (r != BC_OK) break;
        es = cv_dtype_size(t->storage->dtype);
        if (t->n_dims == 0) { r = bc__fail(err, BC_ERR_UNSUPPORTED, "%s: tensor '%s' is a scalar", what, k->s); break; }
        if (bc__mul_overflows((uint64_t)t->offset, (uint64_t)es, &start) || bc__mul_overflows((uint64_t)expect, (uint64_t)es, &nbytes) ||
            start > st->size || nbytes > st->size - start) {
            r = bc__fail(err, BC_ERR_FORMAT, "%s: tensor '%s' reaches past its storage", what, k->s);
            break;
        }
        r = cv_add_tensor(cf, k->s, t->storage->dtype, t->n_dims, t->shape, d + st->offset + start, nbytes, err);
    }
    pk_vm_free(&vm);
    free(z.e);
    return r;
}

/* ==========================================================================
   Reading a Hugging Face model directory
   ========================================================================== */

static js *cv_read_json(const char *dir, const char *name, int required, bc_error *err, bc_result *r) {
    char path[4096];
    bc__file_data fd;
    const char *jerr;
    js *v;
    memset(&fd, 0, sizeof fd);
    *r = BC_OK;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (bc__read_whole_file(&fd, path, 0, err) != BC_OK) {
        if (required) *r = bc__fail(err, BC_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    v = js_parse((const char *)fd.data, (size_t)fd.size, &jerr);
    bc__release_file(&fd);
    if (!v) *r = bc__fail(err, BC_ERR_FORMAT, "%s: bad JSON: %s", path, jerr);
    return v;
}

static int cv_exists(const char *dir, const char *name) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static bc_result cv_load_weight_file(cv_files *cf, const char *dir, const char *name, bc_error *err) {
    char path[4096];
    const bc__file_data *fd = NULL;
    size_t n = strlen(name);
    bc_result r;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    r = cv_map(cf, path, &fd, err);
    if (r != BC_OK) return r;
    if (n > 12 && !strcmp(name + n - 12, ".safetensors")) return cv_parse_safetensors(cf, fd->data, fd->size, path, err);
    return cv_parse_torch_bin(cf, fd->data, fd->size, path, err);
}

/* Every shard named in an index, each once. */
static bc_result cv_load_sharded(cv_files *cf, const char *dir, const char *index_name, bc_error *err) {
    bc_result r;
    js *idx = cv_read_json(dir, index_name, 1, err, &r);
    const js *map, *e, *e2;
    if (!idx) return r;
    map = js_get(idx, "weight_map");
    if (!map || map->kind != JS_OBJ) { js_free(idx); return bc__fail(err, BC_ERR_FORMAT, "%s/%s: no weight_map", dir, index_name); }
    for (e = map->child; e && r == BC_OK; e = e->next) {
        int seen = 0;
        if (e->kind != JS_STR || strchr(e->str, '/')) { r = bc__fail(err, BC_ERR_FORMAT, "%s/%s: bad shard name", dir, index_name); break; }
        for (e2 = map->child; e2 != e; e2 = e2->next) if (!strcmp(e2->str, e->str)) { seen = 1; break; }
        if (!seen) r = cv_load_weight_file(cf, dir, e->str, err);
    }
    for (e = map->child; e && r == BC_OK; e = e->next)
        if (!cv_find(cf, e->key)) r = bc__fail(err, BC_ERR_FORMAT, "%s/%s: tensor '%s' is not in its shard", dir, index_name, e->key);
    js_free(idx);
    return r;
}

static bc_result cv_load_weights(cv_files *cf, const char *dir, bc_error *err) {
    if (cv_exists(dir, "model.safetensors.index.json")) return cv_load_sharded(cf, dir, "model.safetensors.index.json", err);
    if (cv_exists(dir, "model.safetensors")) return cv_load_weight_file(cf, dir, "model.safetensors", err);
    if (cv_exists(dir, "pytorch_model.bin.index.json")) return cv_load_sharded(cf, dir, "pytorch_model.bin.index.json", err);
    if (cv_exists(dir, "pytorch_model.bin")) return cv_load_weight_file(cf, dir, "pytorch_model.bin", err);
    return bc__fail(err, BC_ERR_IO, "%s: no weights (pytorch_model.bin, model.safetensors or an index)", dir);
}

/* ==========================================================================
   The model description and the output plan
   ========================================================================== */

typedef struct cv_model {
    int n_vocab, n_embd, n_layer, n_head, n_ff, n_ctx;
    float eps, rope_base;
    int alibi;                /* 13B style */
    int norm_head;            /* Baichuan 2 */
    int user_id, assistant_id, bos, eos, pad, unk;
    int add_bos, add_eos;
    char name[128];
} cv_model;

static bc_result cv_read_config(cv_model *m, const char *dir, bc_error *err) {
    bc_result r;
    js *cfg = cv_read_json(dir, "config.json", 1, err, &r), *gen, *tokcfg;
    long long v;
    const js *arch, *e;
    if (!cfg) return r;
    memset(m, 0, sizeof *m);
    arch = js_get(cfg, "architectures");
    if (arch && arch->kind == JS_ARR && arch->child && arch->child->kind == JS_STR &&
        strcmp(arch->child->str, "BaichuanForCausalLM") && strcmp(arch->child->str, "BaiChuanForCausalLM")) {
        r = bc__fail(err, BC_ERR_UNSUPPORTED, "%s/config.json: architecture %s is not Baichuan", dir, arch->child->str);
        js_free(cfg);
        return r;
    }
#define CV_REQ(key, field) do { if (!js_int(cfg, key, &v) || v <= 0 || v > (1 << 30)) { js_free(cfg); \
        return bc__fail(err, BC_ERR_FORMAT, "%s/config.json: missing or bad %s", dir, key); } m->field = (int)v; } while (0)
    CV_REQ("vocab_size", n_vocab);
    CV_REQ("hidden_size", n_embd);
    CV_REQ("num_hidden_layers", n_layer);
    CV_REQ("num_attention_heads", n_head);
    CV_REQ("intermediate_size", n_ff);
#undef CV_REQ
    if (m->n_embd % m->n_head || (m->n_embd / m->n_head) % 2) { js_free(cfg); return bc__fail(err, BC_ERR_FORMAT, "%s/config.json: hidden_size %d is not an even multiple of %d heads", dir, m->n_embd, m->n_head); }
    /* RoPE (7B) configs have max_position_embeddings; ALiBi (13B) ones only model_max_length */
    m->alibi = js_get(cfg, "max_position_embeddings") == NULL;
    if (js_int(cfg, "max_position_embeddings", &v) || js_int(cfg, "model_max_length", &v)) m->n_ctx = (int)v;
    else m->n_ctx = 4096;
    e = js_get(cfg, "rms_norm_eps");
    m->eps = e && e->kind == JS_NUM ? (float)e->num : 1e-6f;
    m->rope_base = 10000.0f;
    m->norm_head = m->n_vocab != 64000; /* Baichuan 1 (64000) has a plain lm_head */
    m->bos = js_int(cfg, "bos_token_id", &v) ? (int)v : 1;
    m->eos = js_int(cfg, "eos_token_id", &v) ? (int)v : 2;
    m->pad = js_int(cfg, "pad_token_id", &v) ? (int)v : 0;
    m->user_id = m->assistant_id = -1;
    js_free(cfg);
    gen = cv_read_json(dir, "generation_config.json", 0, err, &r);
    if (r != BC_OK) return r;
    if (gen) {
        if (js_int(gen, "user_token_id", &v)) m->user_id = (int)v;
        if (js_int(gen, "assistant_token_id", &v)) m->assistant_id = (int)v;
        js_free(gen);
    }
    tokcfg = cv_read_json(dir, "tokenizer_config.json", 0, err, &r);
    if (r != BC_OK) return r;
    m->add_bos = 0;
    m->add_eos = 0;
    if (tokcfg) {
        e = js_get(tokcfg, "add_bos_token");
        if (e && e->kind == JS_BOOL) m->add_bos = (int)e->num;
        e = js_get(tokcfg, "add_eos_token");
        if (e && e->kind == JS_BOOL) m->add_eos = (int)e->num;
        js_free(tokcfg);
    }
    snprintf(m->name, sizeof m->name, "Baichuan%s", m->norm_head ? (m->alibi ? "2-13B" : "2-7B") : (m->alibi ? "-13B" : "-7B"));
    bc__ok(err);
    return BC_OK;
}

/* How an output tensor's rows come from a source tensor. */
typedef struct cv_out {
    char name[96];
    const cv_tensor *src;
    int64_t rows, cols;       /* output shape (rows of cols) */
    int64_t row0;             /* first source row */
    int permute_heads;        /* >0: llama.cpp's q/k row permutation for RoPE with this many heads */
    int normalize_rows;       /* NormHead */
    int one_dim;              /* a norm weight, kept f32 */
} cv_out;

/* llama.cpp's reverse HF permutation: rows of each head reordered from rotate-half
   (first half, second half) to interleaved pairs. Output row r takes source row
   cv_permuted_row(r). */
static int64_t cv_permuted_row(int64_t r, int64_t rows, int n_head) {
    int64_t hd = rows / n_head, h = r / hd, k = r % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2;
}

static bc_result cv_need(const cv_files *cf, const char *name, int n_dims, int64_t d0, int64_t d1, const cv_tensor **out, bc_error *err) {
    const cv_tensor *t = cv_find(cf, name);
    if (!t) return bc__fail(err, BC_ERR_SHAPE, "checkpoint has no tensor '%s'", name);
    if (t->n_dims != n_dims || t->shape[0] != d0 || (n_dims == 2 && t->shape[1] != d1))
        return bc__fail(err, BC_ERR_SHAPE, "tensor '%s' has shape [%lld%s%lld], config.json says [%lld, %lld]", name, (long long)t->shape[0],
                        t->n_dims > 1 ? ", " : "", t->n_dims > 1 ? (long long)t->shape[1] : 0LL, (long long)d0, (long long)d1);
    *out = t;
    return BC_OK;
}

static bc_result cv_plan(const cv_model *m, const cv_files *cf, cv_out **plan, int *n_plan, bc_error *err) {
    int n = 0, l, max = 3 + 9 * m->n_layer;
    cv_out *p = (cv_out *)calloc((size_t)max, sizeof *p);
    const cv_tensor *t;
    char name[128];
    bc_result r;
    int64_t h = m->n_embd;
    if (!p) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
#define CV_ADD(gname, SRC, R, C, r0, perm, norm, one) do { cv_out *o = &p[n++]; snprintf(o->name, sizeof o->name, "%s", gname); \
        o->src = SRC; o->rows = R; o->cols = C; o->row0 = r0; o->permute_heads = perm; o->normalize_rows = norm; o->one_dim = one; } while (0)
#define CV_NEED(hf, nd, d0, d1) do { if ((r = cv_need(cf, hf, nd, d0, d1, &t, err)) != BC_OK) { free(p); return r; } } while (0)
    CV_NEED("model.embed_tokens.weight", 2, m->n_vocab, h);
    CV_ADD("token_embd.weight", t, m->n_vocab, h, 0, 0, 0, 0);
    for (l = 0; l < m->n_layer; l++) {
        char g[96];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        CV_NEED(name, 1, h, 0);
        snprintf(g, sizeof g, "blk.%d.attn_norm.weight", l); CV_ADD(g, t, 1, h, 0, 0, 0, 1);
        snprintf(name, sizeof name, "model.layers.%d.self_attn.W_pack.weight", l);
        CV_NEED(name, 2, 3 * h, h);
        snprintf(g, sizeof g, "blk.%d.attn_q.weight", l); CV_ADD(g, t, h, h, 0, m->n_head, 0, 0);
        snprintf(g, sizeof g, "blk.%d.attn_k.weight", l); CV_ADD(g, t, h, h, h, m->n_head, 0, 0);
        snprintf(g, sizeof g, "blk.%d.attn_v.weight", l); CV_ADD(g, t, h, h, 2 * h, 0, 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.self_attn.o_proj.weight", l);
        CV_NEED(name, 2, h, h);
        snprintf(g, sizeof g, "blk.%d.attn_output.weight", l); CV_ADD(g, t, h, h, 0, 0, 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        CV_NEED(name, 1, h, 0);
        snprintf(g, sizeof g, "blk.%d.ffn_norm.weight", l); CV_ADD(g, t, 1, h, 0, 0, 0, 1);
        snprintf(name, sizeof name, "model.layers.%d.mlp.gate_proj.weight", l);
        CV_NEED(name, 2, m->n_ff, h);
        snprintf(g, sizeof g, "blk.%d.ffn_gate.weight", l); CV_ADD(g, t, m->n_ff, h, 0, 0, 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", l);
        CV_NEED(name, 2, h, m->n_ff);
        snprintf(g, sizeof g, "blk.%d.ffn_down.weight", l); CV_ADD(g, t, h, m->n_ff, 0, 0, 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.mlp.up_proj.weight", l);
        CV_NEED(name, 2, m->n_ff, h);
        snprintf(g, sizeof g, "blk.%d.ffn_up.weight", l); CV_ADD(g, t, m->n_ff, h, 0, 0, 0, 0);
    }
    CV_NEED("model.norm.weight", 1, h, 0);
    CV_ADD("output_norm.weight", t, 1, h, 0, 0, 0, 1);
    CV_NEED("lm_head.weight", 2, m->n_vocab, h);
    CV_ADD("output.weight", t, m->n_vocab, h, 0, 0, m->norm_head, 0);
#undef CV_ADD
#undef CV_NEED
    *plan = p;
    *n_plan = n;
    return BC_OK;
}

/* ==========================================================================
   Writing
   ========================================================================== */

static void cv_source_row(const cv_tensor *t, int64_t row, int64_t cols, float *out) {
    const uint8_t *p = t->data + (uint64_t)row * (uint64_t)cols * (uint64_t)cv_dtype_size(t->dtype);
    int64_t i;
    if (t->dtype == DT_F32) { memcpy(out, p, (size_t)cols * 4); return; }
    for (i = 0; i < cols; i++) {
        uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        out[i] = t->dtype == DT_F16 ? bc_fp16_to_f32(v) : bc_bf16_to_f32(v);
    }
}

/* F.normalize: x / max(||x||, 1e-12), the norm accumulated in double. */
static void cv_normalize_row(float *x, int64_t n) {
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) s += (double)x[i] * x[i];
    s = sqrt(s);
    if (s < 1e-12) s = 1e-12;
    for (i = 0; i < n; i++) x[i] = (float)((double)x[i] / s);
}

/* A source tensor is read once: drop its pages from our mapping so resident memory stays
   near one tensor, not the checkpoint (the file stays in the page cache). */
static void cv_release_pages(const cv_tensor *t) {
#ifdef BC__HAVE_MMAP
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start = (uintptr_t)t->data & ~(page - 1);
    uintptr_t end = ((uintptr_t)t->data + t->nbytes) & ~(page - 1);
    if (end > start) madvise((void *)start, (size_t)(end - start), MADV_DONTNEED);
#else
    (void)t;
#endif
}

typedef struct cv_progress {
    int enabled;
    uint64_t done, total;
    time_t last;
} cv_progress;

static void cv_progress_show(cv_progress *pg, const char *name, int final) {
    time_t now = time(NULL);
    if (!pg->enabled || (!final && now == pg->last)) return;
    pg->last = now;
    fprintf(stderr, "\r  %5.1f%%  %-32s", pg->total ? 100.0 * (double)pg->done / (double)pg->total : 100.0, name);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

typedef struct cv_rowgen {
    /* source of rows: a checkpoint tensor, or random values for --synthetic */
    const cv_out *o;
    uint64_t seed;
    float fill;               /* synthetic 1-D tensors */
} cv_rowgen;

static uint64_t cv_rand_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void cv_row(const cv_rowgen *g, int64_t r, float *row) {
    const cv_out *o = g->o;
    int64_t i;
    if (!o->src) {
        uint64_t s = g->seed ^ ((uint64_t)r * 0x9e3779b97f4a7c15ull);
        if (o->one_dim) { for (i = 0; i < o->cols; i++) row[i] = g->fill; return; }
        for (i = 0; i < o->cols; i += 2) { /* ~uniform with std 0.02 */
            uint64_t v = cv_rand_next(&s);
            row[i] = ((float)(v & 0xffffffu) / 16777216.0f - 0.5f) * 0.0693f;
            if (i + 1 < o->cols) row[i + 1] = ((float)((v >> 32) & 0xffffffu) / 16777216.0f - 0.5f) * 0.0693f;
        }
    } else {
        int64_t src = o->permute_heads ? cv_permuted_row(r, o->rows, o->permute_heads) : r;
        cv_source_row(o->src, o->row0 + src, o->cols, row);
    }
    if (o->normalize_rows) cv_normalize_row(row, o->cols);
}

static bc_result cv_write_tensor(bc_gguf_writer *w, const cv_rowgen *g, bc_type type, float *row, uint8_t *buf,
                                 uint64_t buf_cap, cv_progress *pg, bc_error *err) {
    const cv_out *o = g->o;
    uint64_t row_bytes = bc_tensor_nbytes(type, o->cols), used = 0;
    int64_t r;
    bc_result res;
    for (r = 0; r < o->rows; r++) {
        cv_row(g, r, row);
        if (bc_quantize_row(type, row, buf + used, o->cols) != BC_OK)
            return bc__fail(err, BC_ERR_SHAPE, "tensor '%s': rows of %lld do not fit %s blocks", o->name, (long long)o->cols, bc_type_name(type));
        used += row_bytes;
        if (used + row_bytes > buf_cap || r + 1 == o->rows) {
            if ((res = bc_gguf_writer_write_chunk(w, buf, used, err)) != BC_OK) return res;
            pg->done += used;
            used = 0;
            cv_progress_show(pg, o->name, 0);
        }
    }
    return BC_OK;
}

static bc_result cv_write_vocab(bc_gguf_writer *w, const bc_spm_model *spm, int n_vocab, bc_error *err) {
    uint64_t *lens;
    int32_t i;
    if (n_vocab && spm->n_pieces != n_vocab)
        return bc__fail(err, BC_ERR_SHAPE, "tokenizer.model has %d pieces, config.json says vocab_size %d", spm->n_pieces, n_vocab);
    lens = (uint64_t *)malloc((size_t)spm->n_pieces * sizeof *lens);
    if (!lens) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    for (i = 0; i < spm->n_pieces; i++) lens[i] = strlen(spm->pieces[i]);
    bc_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    bc_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default"); /* as llama.cpp writes for SentencePiece */
    bc_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)spm->pieces, lens, (uint64_t)spm->n_pieces);
    bc_gguf_writer_set_arr(w, "tokenizer.ggml.scores", BC_GGUF_FLOAT32, spm->scores, (uint64_t)spm->n_pieces);
    bc_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", BC_GGUF_INT32, spm->types, (uint64_t)spm->n_pieces);
    bc_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(spm->bos_id >= 0 ? spm->bos_id : 1));
    bc_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(spm->eos_id >= 0 ? spm->eos_id : 2));
    bc_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)spm->unk_id);
    bc_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)(spm->pad_id >= 0 ? spm->pad_id : 0));
    bc_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", spm->add_dummy_prefix);
    free(lens);
    return BC_OK;
}

static void cv_write_hparams(bc_gguf_writer *w, const cv_model *m, bc_type type) {
    static const uint32_t file_type[] = {0, 1, 2}; /* llama.cpp's general.file_type: f32 0, f16 1, q4_0 2 */
    uint32_t ft = type == BC_TYPE_F32 ? file_type[0] : type == BC_TYPE_F16 ? file_type[1] : type == BC_TYPE_Q4_0 ? file_type[2]
                : type == BC_TYPE_Q8_0 ? 7u : 32u; /* q8_0 7, bf16 32 */
    bc_gguf_writer_set_str(w, "general.architecture", "baichuan");
    bc_gguf_writer_set_str(w, "general.name", m->name);
    bc_gguf_writer_set_u32(w, "general.file_type", ft);
    bc_gguf_writer_set_str(w, "baichuan.tensor_data_layout", "Meta AI original pth"); /* llama.cpp's key: q/k rows permuted */
    bc_gguf_writer_set_u32(w, "baichuan.context_length", (uint32_t)m->n_ctx);
    bc_gguf_writer_set_u32(w, "baichuan.embedding_length", (uint32_t)m->n_embd);
    bc_gguf_writer_set_u32(w, "baichuan.block_count", (uint32_t)m->n_layer);
    bc_gguf_writer_set_u32(w, "baichuan.feed_forward_length", (uint32_t)m->n_ff);
    bc_gguf_writer_set_u32(w, "baichuan.rope.dimension_count", (uint32_t)(m->n_embd / m->n_head));
    bc_gguf_writer_set_u32(w, "baichuan.attention.head_count", (uint32_t)m->n_head);
    bc_gguf_writer_set_u32(w, "baichuan.attention.head_count_kv", (uint32_t)m->n_head);
    bc_gguf_writer_set_f32(w, "baichuan.attention.layer_norm_rms_epsilon", m->eps);
    if (!m->alibi) bc_gguf_writer_set_f32(w, "baichuan.rope.freq_base", m->rope_base);
    bc_gguf_writer_set_str(w, "baichuan.position_encoding", m->alibi ? "alibi" : "rope");
    bc_gguf_writer_set_bool(w, "baichuan.output_normalized", m->norm_head);
    if (m->user_id >= 0) bc_gguf_writer_set_u32(w, "baichuan.chat.user_token_id", (uint32_t)m->user_id);
    if (m->assistant_id >= 0) bc_gguf_writer_set_u32(w, "baichuan.chat.assistant_token_id", (uint32_t)m->assistant_id);
    bc_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", m->add_bos);
    bc_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", m->add_eos);
}

static bc_result cv_add_infos(bc_gguf_writer *w, const cv_out *plan, int n, bc_type type, uint64_t *total, bc_error *err) {
    int i;
    *total = 0;
    for (i = 0; i < n; i++) {
        int64_t ne[2];
        bc_type t = plan[i].one_dim ? BC_TYPE_F32 : type;
        ne[0] = plan[i].cols;
        ne[1] = plan[i].rows;
        if (plan[i].cols % bc_type_block_size(t))
            return bc__fail(err, BC_ERR_SHAPE, "tensor '%s': rows of %lld elements cannot be stored as %s (blocks of %lld)", plan[i].name,
                            (long long)plan[i].cols, bc_type_name(t), (long long)bc_type_block_size(t));
        if (bc_gguf_writer_add_tensor(w, plan[i].name, t, plan[i].one_dim ? 1 : 2, ne) != BC_OK)
            return bc__fail(err, BC_ERR_NOMEM, "cannot describe tensor '%s'", plan[i].name);
        *total += bc_tensor_nbytes(t, plan[i].rows * plan[i].cols);
    }
    return BC_OK;
}

/* Writes everything to tmp_path; the caller renames it on success. */
static bc_result cv_write_model(const char *tmp_path, const cv_model *m, const bc_spm_model *spm, const cv_out *plan, int n_plan,
                                bc_type type, uint64_t seed, bc_error *err) {
    bc_gguf_writer *w;
    bc_result r;
    uint64_t total, buf_cap = 8u << 20;
    int i, max_cols = 1;
    float *row;
    uint8_t *buf;
    cv_progress pg;
    if ((r = bc_gguf_writer_create(&w, err)) != BC_OK) return r;
    cv_write_hparams(w, m, type);
    if ((r = cv_write_vocab(w, spm, m->n_vocab, err)) != BC_OK || (r = cv_add_infos(w, plan, n_plan, type, &total, err)) != BC_OK) {
        bc_gguf_writer_free(w);
        return r;
    }
    for (i = 0; i < n_plan; i++) if (plan[i].cols > max_cols) max_cols = (int)plan[i].cols;
    if (buf_cap < (uint64_t)max_cols * 4) buf_cap = (uint64_t)max_cols * 4;
    row = (float *)malloc((size_t)max_cols * sizeof(float));
    buf = (uint8_t *)malloc((size_t)buf_cap);
    memset(&pg, 0, sizeof pg);
#ifdef __unix__
    pg.enabled = isatty(2);
#endif
    pg.total = total;
    if (!row || !buf) r = bc__fail(err, BC_ERR_NOMEM, "out of memory");
    else r = bc_gguf_writer_begin(w, tmp_path, err);
    for (i = 0; r == BC_OK && i < n_plan; i++) {
        cv_rowgen g;
        g.o = &plan[i];
        g.seed = seed + (uint64_t)i * 7919u;
        g.fill = 1.0f;
        r = cv_write_tensor(w, &g, plan[i].one_dim ? BC_TYPE_F32 : type, row, buf, buf_cap, &pg, err);
        if (plan[i].src) cv_release_pages(plan[i].src);
    }
    if (r == BC_OK) r = bc_gguf_writer_end(w, err);
    if (r == BC_OK) cv_progress_show(&pg, "done", 1);
    free(row);
    free(buf);
    bc_gguf_writer_free(w);
    return r;
}

/* A vocabulary of the right size for synthetic models: <unk> <s> </s>, 256 bytes, fillers. */
static bc_result cv_synthetic_vocab(bc_spm_model *spm, int n, bc_error *err) {
    int i;
    char *strings;
    memset(spm, 0, sizeof *spm);
    spm->pieces = (char **)malloc((size_t)n * (sizeof(char *) + 16));
    spm->scores = (float *)calloc((size_t)n, sizeof(float));
    spm->types = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    if (!spm->pieces || !spm->scores || !spm->types) { bc_spm_free(spm); return bc__fail(err, BC_ERR_NOMEM, "out of memory"); }
    strings = (char *)(spm->pieces + n);
    for (i = 0; i < n; i++) {
        char *s = strings + 16 * i;
        if (i == 0) strcpy(s, "<unk>");
        else if (i == 1) strcpy(s, "<s>");
        else if (i == 2) strcpy(s, "</s>");
        else if (i < 259) snprintf(s, 16, "<0x%02X>", i - 3);
        else snprintf(s, 16, "tok%d", i);
        spm->pieces[i] = s;
        spm->types[i] = i == 0 ? BC_PIECE_UNKNOWN : i < 3 ? BC_PIECE_CONTROL : i < 259 ? BC_PIECE_BYTE : BC_PIECE_NORMAL;
        spm->scores[i] = -(float)i;
    }
    spm->n_pieces = n;
    spm->model_type = 2;
    spm->byte_fallback = 1;
    spm->bos_id = 1;
    spm->eos_id = 2;
    spm->pad_id = 0;
    strcpy(spm->normalizer_name, "identity");
    return BC_OK;
}

static bc_result cv_synthetic_plan(const cv_model *m, cv_out **plan, int *n_plan, bc_error *err) {
    /* the same plan as a checkpoint, with no sources: rows are generated */
    cv_files none;
    cv_tensor fake[1];
    bc_result r;
    int i, l;
    (void)fake;
    memset(&none, 0, sizeof none);
    *plan = (cv_out *)calloc((size_t)(3 + 9 * m->n_layer), sizeof(cv_out));
    if (!*plan) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    i = 0;
#define SY(nm, R, C, one) do { cv_out *o = &(*plan)[i++]; snprintf(o->name, sizeof o->name, "%s", nm); o->rows = R; o->cols = C; o->one_dim = one; } while (0)
    SY("token_embd.weight", m->n_vocab, m->n_embd, 0);
    for (l = 0; l < m->n_layer; l++) {
        char g[96];
        snprintf(g, sizeof g, "blk.%d.attn_norm.weight", l); SY(g, 1, m->n_embd, 1);
        snprintf(g, sizeof g, "blk.%d.attn_q.weight", l); SY(g, m->n_embd, m->n_embd, 0);
        snprintf(g, sizeof g, "blk.%d.attn_k.weight", l); SY(g, m->n_embd, m->n_embd, 0);
        snprintf(g, sizeof g, "blk.%d.attn_v.weight", l); SY(g, m->n_embd, m->n_embd, 0);
        snprintf(g, sizeof g, "blk.%d.attn_output.weight", l); SY(g, m->n_embd, m->n_embd, 0);
        snprintf(g, sizeof g, "blk.%d.ffn_norm.weight", l); SY(g, 1, m->n_embd, 1);
        snprintf(g, sizeof g, "blk.%d.ffn_gate.weight", l); SY(g, m->n_ff, m->n_embd, 0);
        snprintf(g, sizeof g, "blk.%d.ffn_down.weight", l); SY(g, m->n_embd, m->n_ff, 0);
        snprintf(g, sizeof g, "blk.%d.ffn_up.weight", l); SY(g, m->n_ff, m->n_embd, 0);
    }
    SY("output_norm.weight", 1, m->n_embd, 1);
    SY("output.weight", m->n_vocab, m->n_embd, 0);
    (*plan)[i - 1].normalize_rows = 1;
#undef SY
    *n_plan = i;
    r = BC_OK;
    return r;
}

/* ==========================================================================
   Command line
   ========================================================================== */

#ifndef BC_CONVERT_NO_MAIN
static void cv_usage(FILE *f) {
    fprintf(f,
            "usage: baichuan-convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]\n"
            "       baichuan-convert HF_DIR -o VOCAB.gguf --vocab-only\n"
            "       baichuan-convert --synthetic 7b|13b -o OUT.gguf [--type q4_0] [--vocab tokenizer.model]\n"
            "Converts a Hugging Face Baichuan 1/2 checkpoint (config.json, tokenizer.model and\n"
            "pytorch_model*.bin or *.safetensors) to GGUF; --synthetic writes random weights of the\n"
            "real shapes for speed tests. Default type: f16.\n");
}

static int cv_parse_type(const char *s, bc_type *t) {
    static const char *names[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
    static const bc_type types[] = {BC_TYPE_F32, BC_TYPE_F16, BC_TYPE_BF16, BC_TYPE_Q8_0, BC_TYPE_Q4_0};
    int i;
    for (i = 0; i < 5; i++) if (!strcmp(s, names[i])) { *t = types[i]; return 1; }
    return 0;
}

static bc_result cv_load_spm(bc_spm_model *spm, const char *path, bc_error *err) {
    bc__file_data fd;
    bc_result r = bc__read_whole_file(&fd, path, 0, err);
    if (r != BC_OK) return r;
    r = bc_spm_parse(spm, fd.data, fd.size, err);
    bc__release_file(&fd);
    if (r != BC_OK) {
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        snprintf(err->message, sizeof err->message, "%.80s: %.170s", path, msg);
    }
    return r;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *synthetic = NULL, *vocab = NULL;
    bc_type type = BC_TYPE_F16;
    int vocab_only = 0, i, n_plan = 0;
    char tmp[4200], path[4200];
    bc_error err;
    bc_result r;
    cv_model m;
    cv_files cf;
    cv_out *plan = NULL;
    bc_spm_model spm;
    memset(&cf, 0, sizeof cf);
    memset(&spm, 0, sizeof spm);
    memset(&err, 0, sizeof err);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            if (!cv_parse_type(argv[++i], &type)) { fprintf(stderr, "error: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0)\n", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "--vocab-only")) vocab_only = 1;
        else if (!strcmp(argv[i], "--synthetic") && i + 1 < argc) synthetic = argv[++i];
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { cv_usage(stdout); return 0; }
        else if (argv[i][0] == '-' || dir) { fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]); cv_usage(stderr); return 2; }
        else dir = argv[i];
    }
    if (!out || (!dir && !synthetic) || (dir && synthetic)) { cv_usage(stderr); return 2; }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
    if (synthetic) {
        memset(&m, 0, sizeof m);
        if (!strcmp(synthetic, "7b")) { m.n_embd = 4096; m.n_layer = 32; m.n_head = 32; m.n_ff = 11008; }
        else if (!strcmp(synthetic, "13b")) { m.n_embd = 5120; m.n_layer = 40; m.n_head = 40; m.n_ff = 13696; m.alibi = 1; }
        else { fprintf(stderr, "error: --synthetic takes 7b or 13b\n"); return 2; }
        m.n_vocab = 125696; m.n_ctx = 4096; m.eps = 1e-6f; m.rope_base = 10000.0f; m.norm_head = 1;
        m.user_id = 195; m.assistant_id = 196;
        snprintf(m.name, sizeof m.name, "synthetic Baichuan2-%s", synthetic);
        r = vocab ? cv_load_spm(&spm, vocab, &err) : cv_synthetic_vocab(&spm, m.n_vocab, &err);
        if (r == BC_OK) r = cv_synthetic_plan(&m, &plan, &n_plan, &err);
        if (r == BC_OK) r = cv_write_model(tmp, &m, &spm, plan, n_plan, type, 42, &err);
    } else {
        snprintf(path, sizeof path, "%s/tokenizer.model", dir);
        r = cv_load_spm(&spm, path, &err);
        if (r == BC_OK && vocab_only) {
            memset(&m, 0, sizeof m);
            if (cv_exists(dir, "config.json")) r = cv_read_config(&m, dir, &err);
            else { m.n_embd = 1; m.n_head = 1; m.user_id = m.assistant_id = -1; m.norm_head = 1; strcpy(m.name, "vocab"); }
            if (r == BC_OK) {
                bc_gguf_writer *w;
                m.n_vocab = 0; /* no check: vocab files need no matching weights */
                r = bc_gguf_writer_create(&w, &err);
                if (r == BC_OK) {
                    bc_gguf_writer_set_str(w, "general.architecture", "baichuan");
                    bc_gguf_writer_set_str(w, "general.name", m.name);
                    if (m.user_id >= 0) bc_gguf_writer_set_u32(w, "baichuan.chat.user_token_id", (uint32_t)m.user_id);
                    if (m.assistant_id >= 0) bc_gguf_writer_set_u32(w, "baichuan.chat.assistant_token_id", (uint32_t)m.assistant_id);
                    r = cv_write_vocab(w, &spm, 0, &err);
                    if (r == BC_OK) r = bc_gguf_writer_begin(w, tmp, &err);
                    if (r == BC_OK) r = bc_gguf_writer_end(w, &err);
                    bc_gguf_writer_free(w);
                }
            }
        } else if (r == BC_OK) {
            r = cv_read_config(&m, dir, &err);
            if (r == BC_OK) r = cv_load_weights(&cf, dir, &err);
            if (r == BC_OK) r = cv_plan(&m, &cf, &plan, &n_plan, &err);
            if (r == BC_OK) r = cv_write_model(tmp, &m, &spm, plan, n_plan, type, 0, &err);
        }
    }
    free(plan);
    cv_files_free(&cf);
    bc_spm_free(&spm);
    if (r == BC_OK && rename(tmp, out) != 0) r = bc__fail(&err, BC_ERR_IO, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
    if (r != BC_OK) {
        remove(tmp);
        fprintf(stderr, "error: %s\n", err.message[0] ? err.message : bc_result_string(r));
        return 1;
    }
    return 0;
}
#endif
