/* baichuan.h - v0.1.0 - run Baichuan 2 language models in one C header. No warranty.

   QUICK START
      Do this:
         #define BAICHUAN_IMPLEMENTATION
      before you include this file in *one* C or C++ file to create the implementation.

         #define BAICHUAN_IMPLEMENTATION
         #include "baichuan.h"

         bc_error err;
         bc_model *model;
         if (bc_model_load(&model, "model.gguf", NULL, &err) != BC_OK) {
             fprintf(stderr, "%s\n", err.message); return 1;
         }
         ... bc_context_create, bc_generate, see examples/simple.c ...
         bc_model_free(model);

      Build:  cc -O2 -march=native app.c -lm -lpthread

   TABLE OF CONTENTS (each heading appears twice: declarations, then implementation)
      1. Platform          allocation macros, errors, file access, threads, timing
      2. Numbers           fp16 / bf16 <-> f32
      3. Model file        GGUF v3 reader and writer
      4. Quantization      block formats, reference quantize / dequantize
      5. Kernels           thread pool, scalar reference kernels, SIMD variants
      6. Tokenizer         SentencePiece model file, BPE encode, streaming decode
      7. Model             load and validate, forward pass, KV cache
      8. Generation        sampler (Hugging Face semantics), generate loop, chat prompt
      9. CUDA              declarations of baichuan_cuda.cu (BC_CUDA)

   BUILD OPTIONS (define before the #include that has BAICHUAN_IMPLEMENTATION)
      BAICHUAN_STATIC      every public function becomes static (private copy per TU)
      BC_NO_THREADS        no pthreads: single-threaded, for microcontroller builds
      BC_NO_SIMD           compile only the scalar reference kernels
      BC_FORCE_SCALAR      compile SIMD kernels but run the scalar reference everywhere
      BC_NO_MMAP           read model files into memory instead of mapping them
      BC_NO_STDIO          no file access at all: load models from a caller's buffer
      BC_MALLOC(sz) BC_REALLOC(p,newsz) BC_FREE(p)
                           allocation hooks; define all three or none
      BC_MAX_ALLOC         largest single allocation an untrusted file may cause
                           (default 1 << 40)
      BC_CUDA              declare the bc_cuda_* offload API (link baichuan_cuda.cu)

   ERRORS
      Fallible functions return a bc_result (BC_OK = 0, negative on failure) and take
      an optional bc_error* that receives a one-line message. The library never prints,
      never exits and never aborts.

   THREAD SAFETY
      A bc_model is read-only after loading: several bc_context objects, each used by one
      thread at a time, may share one model.

   VERSION HISTORY
      0.1.0  first release: GGUF, tokenizer, 7B (RoPE) and 13B (ALiBi) forward pass

   LICENSE: MIT, see the end of the file.
*/

#ifndef BAICHUAN_H
#define BAICHUAN_H

#include <stddef.h>
#include <stdint.h>

#define BC_VERSION_MAJOR 0
#define BC_VERSION_MINOR 1
#define BC_VERSION_PATCH 0
#define BC_VERSION_STRING "0.1.0"

#ifdef BAICHUAN_STATIC
#if defined(__GNUC__)
#define BC_API static __attribute__((unused))
#else
#define BC_API static
#endif
#else
#define BC_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
   1. Platform: errors
   ========================================================================== */

typedef enum bc_result {
    BC_OK              =  0,
    BC_ERR_IO          = -1,  /* file missing, unreadable, short write */
    BC_ERR_FORMAT      = -2,  /* corrupt or malformed input */
    BC_ERR_NOMEM       = -3,  /* allocation failed or would exceed BC_MAX_ALLOC */
    BC_ERR_INVALID     = -4,  /* bad argument from the caller */
    BC_ERR_UNSUPPORTED = -5,  /* valid input this build cannot handle */
    BC_ERR_RANGE       = -6,  /* token id, position or context length out of range */
    BC_ERR_SHAPE       = -7,  /* tensor missing or of the wrong shape / type */
    BC_ERR_CUDA        = -8   /* CUDA runtime error */
} bc_result;

typedef struct bc_error {
    bc_result code;
    char message[256];
} bc_error;

BC_API const char *bc_result_string(bc_result r);
/* Version and the kernels this build runs, e.g. "0.1.0 avx2+avx512vnni threads". */
BC_API const char *bc_build_info(void);

/* ==========================================================================
   2. Numbers
   ========================================================================== */

BC_API float    bc_fp16_to_f32(uint16_t h);
BC_API uint16_t bc_f32_to_fp16(float f);   /* round to nearest even, like torch */
BC_API float    bc_bf16_to_f32(uint16_t h);
BC_API uint16_t bc_f32_to_bf16(float f);   /* round to nearest even, like torch */

/* ==========================================================================
   3. Model file: GGUF v3 (v2 accepted)
   ========================================================================== */

/* Tensor element types; the values are GGML's, so files interoperate. */
typedef enum bc_type {
    BC_TYPE_F32  = 0,
    BC_TYPE_F16  = 1,
    BC_TYPE_Q4_0 = 2,
    BC_TYPE_Q8_0 = 8,
    BC_TYPE_BF16 = 30
} bc_type;

typedef enum bc_gguf_type {
    BC_GGUF_UINT8 = 0, BC_GGUF_INT8 = 1, BC_GGUF_UINT16 = 2, BC_GGUF_INT16 = 3,
    BC_GGUF_UINT32 = 4, BC_GGUF_INT32 = 5, BC_GGUF_FLOAT32 = 6, BC_GGUF_BOOL = 7,
    BC_GGUF_STRING = 8, BC_GGUF_ARRAY = 9, BC_GGUF_UINT64 = 10, BC_GGUF_INT64 = 11,
    BC_GGUF_FLOAT64 = 12
} bc_gguf_type;

/* A string inside the file: not NUL-terminated. */
typedef struct bc_str {
    const char *ptr;
    uint64_t len;
} bc_str;

typedef struct bc_gguf_kv {
    bc_str key;
    bc_gguf_type type;        /* for arrays: BC_GGUF_ARRAY */
    bc_gguf_type elem_type;   /* for arrays: element type, else == type */
    uint64_t n;               /* for arrays: element count, else 1 */
    const uint8_t *data;      /* the value (or first element) inside the file */
} bc_gguf_kv;

typedef struct bc_gguf_tensor {
    bc_str name;
    uint32_t n_dims;
    int64_t ne[4];            /* GGML order: ne[0] is the contiguous (column) dimension */
    bc_type type;
    uint64_t offset;          /* from the start of the data section */
    uint64_t nbytes;
    const void *data;         /* inside the file */
} bc_gguf_tensor;

typedef struct bc_gguf {
    uint32_t version;
    uint64_t n_kv;
    bc_gguf_kv *kv;
    uint64_t n_tensors;
    bc_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    const uint8_t *base;      /* the whole file */
    uint64_t size;
    void *owned_;             /* mapping or heap copy, released by bc_gguf_close */
    uint64_t owned_size_;
    int owned_kind_;
    void *str_index_;         /* O(1) access into string arrays */
    uint64_t n_str_index_;
} bc_gguf;

/* Open a file (mmap unless BC_NO_MMAP), or parse a caller's buffer, which must outlive
   the bc_gguf. Every count, length and offset is checked against the file size. */
BC_API bc_result bc_gguf_open_file(bc_gguf *g, const char *path, bc_error *err);
BC_API bc_result bc_gguf_open_buffer(bc_gguf *g, const void *data, uint64_t size, bc_error *err);
BC_API void      bc_gguf_close(bc_gguf *g);   /* accepts a zeroed or closed bc_gguf */

BC_API const bc_gguf_kv     *bc_gguf_find_kv(const bc_gguf *g, const char *key);
BC_API const bc_gguf_tensor *bc_gguf_find_tensor(const bc_gguf *g, const char *name);
/* Typed getters: BC_OK, or BC_ERR_FORMAT when the key is missing or of another type
   (integer getters accept any integer type whose value fits). */
BC_API bc_result bc_gguf_get_u32(const bc_gguf *g, const char *key, uint32_t *out);
BC_API bc_result bc_gguf_get_f32(const bc_gguf *g, const char *key, float *out);
BC_API bc_result bc_gguf_get_bool(const bc_gguf *g, const char *key, int *out);
BC_API bc_result bc_gguf_get_str(const bc_gguf *g, const char *key, bc_str *out);
/* Element i of an array of strings: O(1) after the reader indexed the array. */
BC_API bc_result bc_gguf_array_str(const bc_gguf *g, const bc_gguf_kv *kv, uint64_t i, bc_str *out);

/* Writer: add metadata and tensor descriptions, then stream tensor data in order. */
typedef struct bc_gguf_writer bc_gguf_writer;
BC_API bc_result bc_gguf_writer_create(bc_gguf_writer **w, bc_error *err);
BC_API void      bc_gguf_writer_free(bc_gguf_writer *w);
BC_API bc_result bc_gguf_writer_set_u32(bc_gguf_writer *w, const char *key, uint32_t v);
BC_API bc_result bc_gguf_writer_set_i32(bc_gguf_writer *w, const char *key, int32_t v);
BC_API bc_result bc_gguf_writer_set_f32(bc_gguf_writer *w, const char *key, float v);
BC_API bc_result bc_gguf_writer_set_bool(bc_gguf_writer *w, const char *key, int v);
BC_API bc_result bc_gguf_writer_set_str(bc_gguf_writer *w, const char *key, const char *v);
BC_API bc_result bc_gguf_writer_set_arr(bc_gguf_writer *w, const char *key, bc_gguf_type elem_type,
                                        const void *data, uint64_t n);
BC_API bc_result bc_gguf_writer_set_arr_str(bc_gguf_writer *w, const char *key,
                                            const char *const *strs, const uint64_t *lens, uint64_t n);
BC_API bc_result bc_gguf_writer_add_tensor(bc_gguf_writer *w, const char *name, bc_type type,
                                           uint32_t n_dims, const int64_t *ne);
/* Writes the header and tensor infos; then call write_tensor once per tensor, in the
   order they were added, with exactly bc_tensor_nbytes() bytes each. */
BC_API bc_result bc_gguf_writer_begin(bc_gguf_writer *w, const char *path, bc_error *err);
BC_API bc_result bc_gguf_writer_write_tensor(bc_gguf_writer *w, const void *data, uint64_t nbytes,
                                             bc_error *err);
/* The same data in pieces: call repeatedly; the tensor is complete once its byte count
   is reached, and the next call starts the next tensor. */
BC_API bc_result bc_gguf_writer_write_chunk(bc_gguf_writer *w, const void *data, uint64_t nbytes,
                                            bc_error *err);
BC_API bc_result bc_gguf_writer_end(bc_gguf_writer *w, bc_error *err);

/* ==========================================================================
   4. Quantization
   ========================================================================== */

#define BC_QK4_0 32
#define BC_QK8_0 32

typedef struct bc_block_q4_0 {
    uint16_t d;               /* fp16 scale */
    uint8_t qs[BC_QK4_0 / 2]; /* nibbles, offset by 8: low nibble of qs[j] is x[j], high is x[j+16] */
} bc_block_q4_0;

typedef struct bc_block_q8_0 {
    uint16_t d;               /* fp16 scale */
    int8_t qs[BC_QK8_0];
} bc_block_q8_0;

BC_API const char *bc_type_name(bc_type t);
BC_API int         bc_type_valid(uint32_t t);      /* a type this build understands */
BC_API int64_t     bc_type_block_size(bc_type t);  /* elements per block */
BC_API int64_t     bc_type_block_bytes(bc_type t); /* bytes per block */
/* Bytes of a tensor of n elements, or 0 when n is not a multiple of the block size
   or the size overflows. */
BC_API uint64_t    bc_tensor_nbytes(bc_type t, int64_t n);

/* Reference quantizers (the file format's definition) and dequantizers for one row of
   n elements; n must be a multiple of the block size. */
BC_API void bc_quantize_row_q4_0_ref(const float *x, bc_block_q4_0 *y, int64_t n);
BC_API void bc_quantize_row_q8_0_ref(const float *x, bc_block_q8_0 *y, int64_t n);
BC_API void bc_dequantize_row_q4_0(const bc_block_q4_0 *x, float *y, int64_t n);
BC_API void bc_dequantize_row_q8_0(const bc_block_q8_0 *x, float *y, int64_t n);
/* Any type, including f32/f16/bf16. */
BC_API bc_result bc_quantize_row(bc_type t, const float *x, void *y, int64_t n);
BC_API bc_result bc_dequantize_row(bc_type t, const void *x, float *y, int64_t n);

/* ==========================================================================
   6. Tokenizer
   ========================================================================== */

/* SentencePiece piece types (sentencepiece_model.proto). */
typedef enum bc_piece_type {
    BC_PIECE_NORMAL = 1, BC_PIECE_UNKNOWN = 2, BC_PIECE_CONTROL = 3,
    BC_PIECE_USER_DEFINED = 4, BC_PIECE_UNUSED = 5, BC_PIECE_BYTE = 6
} bc_piece_type;

/* The parts of a SentencePiece tokenizer.model the tokenizer needs. */
typedef struct bc_spm_model {
    int32_t n_pieces;
    char **pieces;            /* NUL-terminated UTF-8 (pieces never contain NUL) */
    float *scores;
    int32_t *types;           /* bc_piece_type */
    int model_type;           /* 1 unigram, 2 bpe */
    int add_dummy_prefix;
    int remove_extra_whitespaces;
    int byte_fallback;
    int split_digits;
    int32_t unk_id, bos_id, eos_id, pad_id;
    char normalizer_name[32];
} bc_spm_model;

BC_API bc_result bc_spm_parse(bc_spm_model *m, const void *data, uint64_t size, bc_error *err);
BC_API void      bc_spm_free(bc_spm_model *m);

typedef struct bc_tokenizer bc_tokenizer;

/* How text that looks like a special token is treated by encode. */
typedef enum bc_special_mode {
    BC_SPECIAL_SENTENCEPIECE = 0, /* exactly sentencepiece: user-defined symbols match, control text does not */
    BC_SPECIAL_NONE          = 1, /* untrusted text: never yields control ids or <...> user-defined symbols */
    BC_SPECIAL_HF            = 2  /* also parse control-token literals such as </s>, like HF */
} bc_special_mode;

BC_API bc_result bc_tokenizer_from_gguf(bc_tokenizer **out, const bc_gguf *g, bc_error *err);
BC_API bc_result bc_tokenizer_from_spm(bc_tokenizer **out, const bc_spm_model *m, bc_error *err);
BC_API void      bc_tokenizer_free(bc_tokenizer *t);
BC_API int32_t   bc_tokenizer_n_vocab(const bc_tokenizer *t);
BC_API int32_t   bc_tokenizer_bos(const bc_tokenizer *t);
BC_API int32_t   bc_tokenizer_eos(const bc_tokenizer *t);
/* Encode len bytes (no BOS added). Returns the number of ids (which may exceed cap: then
   only cap were written and the caller retries with a larger buffer), or a negative
   bc_result. Invalid UTF-8 bytes are single characters that fall back to byte pieces. */
BC_API int64_t   bc_tokenizer_encode(const bc_tokenizer *t, const char *text, uint64_t len,
                                     bc_special_mode mode, int32_t *ids, int64_t cap, bc_error *err);
/* The piece's text as stored (with U+2581 for spaces), NULL for an out-of-range id. */
BC_API const char *bc_tokenizer_piece(const bc_tokenizer *t, int32_t id);
/* Decode ids into bytes; returns bytes needed (may exceed cap), or a negative bc_result. */
BC_API int64_t   bc_tokenizer_decode(const bc_tokenizer *t, const int32_t *ids, int64_t n,
                                     char *out, int64_t cap, bc_error *err);

/* Streaming decoder: never emits part of a UTF-8 character. */
typedef struct bc_detokenizer {
    const bc_tokenizer *tok;
    unsigned char pending[8];
    int n_pending;
    int at_start;
} bc_detokenizer;
BC_API void bc_detokenizer_init(bc_detokenizer *d, const bc_tokenizer *t);
/* Appends the complete characters now available to out (cap >= 64 is always enough for
   one token plus pending bytes); returns the bytes written or a negative bc_result. */
BC_API int  bc_detokenizer_push(bc_detokenizer *d, int32_t id, char *out, int cap);
/* End of stream: pending bytes that never formed a valid character become U+FFFD. */
BC_API int  bc_detokenizer_flush(bc_detokenizer *d, char *out, int cap);

/* ==========================================================================
   7. Model
   ========================================================================== */

typedef enum bc_pos_encoding { BC_POS_ROPE = 0, BC_POS_ALIBI = 1 } bc_pos_encoding;

typedef struct bc_hparams {
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_ff;
    int32_t n_ctx_train;
    float   norm_eps;
    float   rope_base;
    bc_pos_encoding pos_encoding;
    int32_t bos_id, eos_id, pad_id;
    int32_t user_token_id, assistant_token_id;   /* chat roles; -1 when absent */
} bc_hparams;

typedef struct bc_model_params {
    int use_mmap;             /* default 1 */
    const void *buffer;       /* load from memory instead of a file (must outlive the model) */
    uint64_t buffer_size;
} bc_model_params;

typedef struct bc_model bc_model;

BC_API bc_model_params   bc_model_default_params(void);
BC_API bc_result         bc_model_load(bc_model **out, const char *path, const bc_model_params *p,
                                       bc_error *err);
BC_API void              bc_model_free(bc_model *m);
BC_API const bc_hparams *bc_model_hparams(const bc_model *m);
BC_API const bc_tokenizer *bc_model_tokenizer(const bc_model *m);

/* A tensor of the loaded model by its GGUF name ("blk.0.attn_q.weight"), as stored. */
typedef struct bc_tensor_view {
    bc_type type;
    uint32_t n_dims;
    int64_t ne[4];            /* ne[0] contiguous */
    uint64_t nbytes;
    const void *data;
} bc_tensor_view;
BC_API bc_result bc_model_tensor(const bc_model *m, const char *name, bc_tensor_view *out);

typedef struct bc_context_params {
    int32_t n_ctx;            /* 0: the model's training context */
    int32_t n_threads;        /* 0: all cores */
    int32_t n_batch;          /* largest chunk of tokens per forward pass; 0: 512 */
    int     kv_f16;           /* store the KV cache in fp16 */
    int32_t n_gpu_layers;     /* BC_CUDA builds: layers to offload (-1: all) */
} bc_context_params;

typedef struct bc_context bc_context;

BC_API bc_context_params bc_context_default_params(void);
BC_API bc_result bc_context_create(bc_context **out, const bc_model *m, const bc_context_params *p,
                                   bc_error *err);
BC_API void      bc_context_free(bc_context *c);
/* Run n tokens at positions n_past .. n_past+n-1, appending them to the KV cache.
   logits_all: NULL, or room for n * n_vocab floats (logits of every position).
   The last position's logits are always available from bc_context_logits. */
BC_API bc_result bc_context_eval(bc_context *c, const int32_t *tokens, int32_t n, float *logits_all,
                                 bc_error *err);
BC_API const float *bc_context_logits(const bc_context *c);
BC_API int32_t   bc_context_n_past(const bc_context *c);
BC_API int32_t   bc_context_n_ctx(const bc_context *c);
/* Forget cache entries from position n_past on (n_past <= current). */
BC_API bc_result bc_context_rewind(bc_context *c, int32_t n_past);

/* ==========================================================================
   8. Generation
   ========================================================================== */

typedef struct bc_sampler_params {
    float temperature;        /* 0: greedy */
    int32_t top_k;            /* 0: off */
    float top_p;              /* 1: off */
    float repetition_penalty; /* 1: off */
    uint64_t seed;
} bc_sampler_params;

typedef struct bc_sampler bc_sampler;

/* Baichuan 2's generation_config.json: temperature 0.3, top_k 5, top_p 0.85, penalty 1.05. */
BC_API bc_sampler_params bc_sampler_default_params(void);
BC_API bc_result bc_sampler_create(bc_sampler **out, int32_t n_vocab, const bc_sampler_params *p,
                                   bc_error *err);
BC_API void      bc_sampler_free(bc_sampler *s);
/* Pick the next token from logits, penalising ids in history (prompt + generated). */
BC_API int32_t   bc_sampler_sample(bc_sampler *s, const float *logits, const int32_t *history,
                                   int64_t n_history);

/* Called for every generated token with its text (complete UTF-8 characters only, may be
   empty). Return non-zero to stop. */
typedef int (*bc_token_callback)(void *user, int32_t token, const char *text, int len);

BC_API bc_result bc_generate(bc_context *c, bc_sampler *s, const int32_t *prompt, int32_t n_prompt,
                             int32_t max_new_tokens, bc_token_callback cb, void *user, bc_error *err);

typedef struct bc_chat_message {
    const char *role;         /* "system", "user" or "assistant" */
    const char *content;
} bc_chat_message;

/* The official build_chat_input (generation_utils.py): role tokens user_id / assistant_id
   before each message, the system text first, whole rounds of history dropped from the
   oldest until the prompt fits model_max_length - max_new_tokens, then left-truncated.
   mode: BC_SPECIAL_HF reproduces the official tokenizer exactly; BC_SPECIAL_NONE keeps
   untrusted users from forging role tokens. Returns the number of ids (may exceed cap),
   or a negative bc_result. */
BC_API int64_t bc_chat_build(const bc_tokenizer *t, int32_t user_id, int32_t assistant_id,
                             const bc_chat_message *msgs, int32_t n_msgs, int32_t max_new_tokens,
                             int32_t model_max_length, bc_special_mode mode, int32_t *ids,
                             int64_t cap, bc_error *err);

/* ==========================================================================
   9. CUDA (link baichuan_cuda.cu)
   ========================================================================== */
#ifdef BC_CUDA
typedef struct bc_cuda_model bc_cuda_model;
BC_API int       bc_cuda_device_count(void);
/* Upload every weight in its file format and allocate an n_ctx KV cache on the device. */
BC_API bc_result bc_cuda_model_create(bc_cuda_model **out, const bc_model *m, int32_t n_ctx,
                                      bc_error *err);
BC_API void      bc_cuda_model_free(bc_cuda_model *g);
/* Same contract as bc_context_eval: n tokens at positions n_past..; logits_last gets the
   last position's logits, logits_all (optional) every position's. */
BC_API bc_result bc_cuda_eval(bc_cuda_model *g, const int32_t *tokens, int32_t n, int32_t n_past,
                              float *logits_all, float *logits_last, bc_error *err);
/* NormHead: the 1/||row|| factor of each logit for files whose head is not normalised, else
   NULL (defined by the BAICHUAN_IMPLEMENTATION translation unit of a BC_CUDA build). */
BC_API const float *bc_model_output_scale(const bc_model *m);
#endif

#ifdef __cplusplus
}
#endif

#endif /* BAICHUAN_H */

/* ##########################################################################
   ##########################################################################
                              IMPLEMENTATION
   ##########################################################################
   ########################################################################## */

#ifdef BAICHUAN_IMPLEMENTATION
#ifndef BAICHUAN_IMPLEMENTATION_DONE
#define BAICHUAN_IMPLEMENTATION_DONE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <float.h>

/* ==========================================================================
   1. Platform
   ========================================================================== */

#if defined(BC_MALLOC) && defined(BC_FREE) && defined(BC_REALLOC)
/* ok: all three given */
#elif !defined(BC_MALLOC) && !defined(BC_FREE) && !defined(BC_REALLOC)
#define BC_MALLOC(sz) malloc(sz)
#define BC_REALLOC(p, newsz) realloc(p, newsz)
#define BC_FREE(p) free(p)
#else
#error "Define all of BC_MALLOC, BC_REALLOC and BC_FREE, or none of them."
#endif

#ifndef BC_MAX_ALLOC
#define BC_MAX_ALLOC ((uint64_t)1 << 40)
#endif

#if defined(BC_NO_STDIO) && !defined(BC_NO_MMAP)
#define BC_NO_MMAP
#endif

#if !defined(BC_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#define BC__HAVE_MMAP 1
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#if !defined(BC_NO_THREADS)
#include <pthread.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

/* C and C++ both accept this spelling, including void* and byte-pointer conversions. */
#define BC__CAST(T, x) ((T)(x))

BC_API const char *bc_result_string(bc_result r) {
    switch (r) {
    case BC_OK: return "ok";
    case BC_ERR_IO: return "i/o error";
    case BC_ERR_FORMAT: return "malformed input";
    case BC_ERR_NOMEM: return "out of memory";
    case BC_ERR_INVALID: return "invalid argument";
    case BC_ERR_UNSUPPORTED: return "unsupported";
    case BC_ERR_RANGE: return "out of range";
    case BC_ERR_SHAPE: return "wrong tensor shape or type";
    case BC_ERR_CUDA: return "CUDA error";
    }
    return "unknown error";
}

/* Records why an operation failed and returns the code, so call sites read
   `return bc__fail(err, BC_ERR_FORMAT, "bad magic %08x", m);`. */
static bc_result bc__fail(bc_error *err, bc_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static bc_result bc__fail(bc_error *err, bc_result code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void bc__ok(bc_error *err) {
    if (err) { err->code = BC_OK; err->message[0] = 0; }
}

/* Allocation bounded by BC_MAX_ALLOC, so a hostile size field cannot ask for terabytes. */
static void *bc__malloc(uint64_t size) {
    if (size == 0) size = 1;
    if (size > BC_MAX_ALLOC || size > (uint64_t)SIZE_MAX) return NULL;
    return BC_MALLOC((size_t)size);
}

static void *bc__calloc(uint64_t n, uint64_t elem) {
    void *p;
    if (elem && n > BC_MAX_ALLOC / elem) return NULL;
    p = bc__malloc(n * elem);
    if (p) memset(p, 0, (size_t)(n * elem));
    return p;
}

static void *bc__realloc(void *p, uint64_t size) {
    if (size == 0) size = 1;
    if (size > BC_MAX_ALLOC || size > (uint64_t)SIZE_MAX) return NULL;
    return BC_REALLOC(p, (size_t)size);
}

static void bc__free(void *p) {
    if (p) BC_FREE(p);
}

/* Overflow-checked size arithmetic: 0 on success, 1 on overflow. */
static int bc__mul_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 1;
    *out = a * b;
    return 0;
}

static int bc__add_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 1;
    *out = a + b;
    return 0;
}

/* A whole file in memory: mapped, or read into a heap buffer. */
typedef struct bc__file_data {
    const uint8_t *data;
    uint64_t size;
    void *owned;
    int kind; /* 0 none, 1 heap, 2 mmap */
} bc__file_data;

#ifndef BC_NO_STDIO
static bc_result bc__read_whole_file(bc__file_data *fd, const char *path, int use_mmap, bc_error *err) {
    FILE *f;
    long long sz;
    uint8_t *buf;
    memset(fd, 0, sizeof *fd);
#ifdef BC__HAVE_MMAP
    if (use_mmap) {
        struct stat st;
        int h = open(path, O_RDONLY);
        void *p;
        if (h < 0) return bc__fail(err, BC_ERR_IO, "cannot open '%s'", path);
        if (fstat(h, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(h);
            return bc__fail(err, BC_ERR_IO, "'%s' is not a regular file", path);
        }
        if (st.st_size == 0) {
            close(h);
            fd->data = BC__CAST(const uint8_t *, "");
            return BC_OK;
        }
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, h, 0);
        close(h);
        if (p == MAP_FAILED) return bc__fail(err, BC_ERR_IO, "cannot map '%s'", path);
        fd->data = BC__CAST(const uint8_t *, p);
        fd->size = (uint64_t)st.st_size;
        fd->owned = p;
        fd->kind = 2;
        return BC_OK;
    }
#else
    (void)use_mmap;
#endif
    f = fopen(path, "rb");
    if (!f) return bc__fail(err, BC_ERR_IO, "cannot open '%s'", path);
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return bc__fail(err, BC_ERR_IO, "cannot size '%s'", path);
    }
    buf = BC__CAST(uint8_t *, bc__malloc((uint64_t)sz));
    if (!buf) {
        fclose(f);
        return bc__fail(err, BC_ERR_NOMEM, "cannot allocate %lld bytes for '%s'", sz, path);
    }
    if (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        bc__free(buf);
        return bc__fail(err, BC_ERR_IO, "short read on '%s'", path);
    }
    fclose(f);
    fd->data = buf;
    fd->size = (uint64_t)sz;
    fd->owned = buf;
    fd->kind = 1;
    return BC_OK;
}
#endif

static void bc__release_file(bc__file_data *fd) {
#ifdef BC__HAVE_MMAP
    if (fd->kind == 2) munmap(fd->owned, (size_t)fd->size);
#endif
    if (fd->kind == 1) bc__free(fd->owned);
    memset(fd, 0, sizeof *fd);
}

/* ==========================================================================
   2. Numbers
   ========================================================================== */

static uint32_t bc__f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bc__bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

BC_API float bc_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bc__bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bc__bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

BC_API uint16_t bc_f32_to_fp16(float f) {
    uint32_t x = bc__f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    int32_t e;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* subnormal or zero in half: shift the full mantissa, round to nearest even */
        uint32_t m, shift, half_q, rem, halfway;
        if (e < -10) return (uint16_t)sign;
        m = man | 0x800000;
        shift = (uint32_t)(14 - e);
        half_q = m >> shift;
        rem = m & ((1u << shift) - 1);
        halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_q & 1))) half_q++;
        return (uint16_t)(sign | half_q);
    } else {
        uint32_t h = (uint32_t)e << 10 | (man >> 13);
        uint32_t rem = man & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into inf: correct */
        return (uint16_t)(sign | h);
    }
}

BC_API float bc_bf16_to_f32(uint16_t h) { return bc__bits_f32((uint32_t)h << 16); }

BC_API uint16_t bc_f32_to_bf16(float f) {
    uint32_t x = bc__f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ==========================================================================
   3. Model file
   ========================================================================== */

/* --- 3a. GGUF reader --------------------------------------------------------- */

#define BC__GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define BC__GGUF_MAX_DIMS 4

typedef struct bc__cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    bc_error *err;
} bc__cursor;

static uint64_t bc__rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    int i;
    for (i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static bc_result bc__cur_need(bc__cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return bc__fail(c->err, BC_ERR_FORMAT, "GGUF truncated: %s needs %llu bytes at offset %llu, file has %llu",
                        what, (unsigned long long)n, (unsigned long long)c->pos, (unsigned long long)c->size);
    return BC_OK;
}

static bc_result bc__cur_u32(bc__cursor *c, uint32_t *v, const char *what) {
    bc_result r = bc__cur_need(c, 4, what);
    if (r) return r;
    *v = (uint32_t)bc__rd_le(c->base + c->pos, 4);
    c->pos += 4;
    return BC_OK;
}

static bc_result bc__cur_u64(bc__cursor *c, uint64_t *v, const char *what) {
    bc_result r = bc__cur_need(c, 8, what);
    if (r) return r;
    *v = bc__rd_le(c->base + c->pos, 8);
    c->pos += 8;
    return BC_OK;
}

static bc_result bc__cur_str(bc__cursor *c, bc_str *s, const char *what) {
    uint64_t len;
    bc_result r = bc__cur_u64(c, &len, what);
    if (r) return r;
    if ((r = bc__cur_need(c, len, what)) != BC_OK) return r;
    s->ptr = BC__CAST(const char *, c->base + c->pos);
    s->len = len;
    c->pos += len;
    return BC_OK;
}

static uint64_t bc__gguf_scalar_size(uint32_t t) {
    switch (t) {
    case BC_GGUF_UINT8: case BC_GGUF_INT8: case BC_GGUF_BOOL: return 1;
    case BC_GGUF_UINT16: case BC_GGUF_INT16: return 2;
    case BC_GGUF_UINT32: case BC_GGUF_INT32: case BC_GGUF_FLOAT32: return 4;
    case BC_GGUF_UINT64: case BC_GGUF_INT64: case BC_GGUF_FLOAT64: return 8;
    }
    return 0;
}

/* Skips one value of type t (arrays of arrays nest at most 2 deep, as no real file
   needs more and recursion must stay bounded). */
static bc_result bc__gguf_skip_value(bc__cursor *c, uint32_t t, int depth) {
    uint64_t sz = bc__gguf_scalar_size(t), n, i, total;
    uint32_t et;
    bc_result r;
    bc_str s;
    if (sz) return bc__cur_need(c, sz, "value") ? c->err ? c->err->code : BC_ERR_FORMAT : (c->pos += sz, BC_OK);
    if (t == BC_GGUF_STRING) return bc__cur_str(c, &s, "string value");
    if (t != BC_GGUF_ARRAY) return bc__fail(c->err, BC_ERR_FORMAT, "unknown GGUF value type %u", t);
    if (depth >= 2) return bc__fail(c->err, BC_ERR_FORMAT, "GGUF arrays nested deeper than 2");
    if ((r = bc__cur_u32(c, &et, "array type")) != BC_OK) return r;
    if ((r = bc__cur_u64(c, &n, "array length")) != BC_OK) return r;
    sz = bc__gguf_scalar_size(et);
    if (sz) {
        if (bc__mul_overflows(n, sz, &total)) return bc__fail(c->err, BC_ERR_FORMAT, "GGUF array length %llu overflows", (unsigned long long)n);
        if ((r = bc__cur_need(c, total, "array data")) != BC_OK) return r;
        c->pos += total;
        return BC_OK;
    }
    if (et != BC_GGUF_STRING && et != BC_GGUF_ARRAY) return bc__fail(c->err, BC_ERR_FORMAT, "unknown GGUF array element type %u", et);
    /* each element takes at least 8 bytes: bound n by the bytes left before looping */
    if (n > (c->size - c->pos) / 8) return bc__fail(c->err, BC_ERR_FORMAT, "GGUF array length %llu exceeds the file", (unsigned long long)n);
    for (i = 0; i < n; i++)
        if ((r = bc__gguf_skip_value(c, et, depth + 1)) != BC_OK) return r;
    return BC_OK;
}

static bc_result bc__gguf_read_kv(bc__cursor *c, bc_gguf_kv *kv) {
    uint32_t t;
    bc_result r;
    if ((r = bc__cur_str(c, &kv->key, "key")) != BC_OK) return r;
    if ((r = bc__cur_u32(c, &t, "value type")) != BC_OK) return r;
    if (t > BC_GGUF_FLOAT64) return bc__fail(c->err, BC_ERR_FORMAT, "key '%.*s': unknown value type %u", (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr, t);
    kv->type = (bc_gguf_type)t;
    kv->elem_type = kv->type;
    kv->n = 1;
    if (t == BC_GGUF_ARRAY) {
        uint32_t et;
        uint64_t start = c->pos;
        if ((r = bc__cur_u32(c, &et, "array type")) != BC_OK) return r;
        if (et > BC_GGUF_FLOAT64) return bc__fail(c->err, BC_ERR_FORMAT, "key '%.*s': unknown array element type %u", (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr, et);
        if ((r = bc__cur_u64(c, &kv->n, "array length")) != BC_OK) return r;
        kv->elem_type = (bc_gguf_type)et;
        kv->data = c->base + c->pos;
        c->pos = start;
        return bc__gguf_skip_value(c, t, 0);
    }
    kv->data = c->base + c->pos;
    return bc__gguf_skip_value(c, t, 0);
}

static int bc__str_eq(bc_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && memcmp(s.ptr, z, n) == 0;
}

static int bc__str_same(bc_str a, bc_str b) {
    return a.len == b.len && memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

static bc_result bc__gguf_read_tensor_info(bc__cursor *c, bc_gguf_tensor *t) {
    uint32_t i, type;
    uint64_t n = 1;
    bc_result r;
    if ((r = bc__cur_str(c, &t->name, "tensor name")) != BC_OK) return r;
    if ((r = bc__cur_u32(c, &t->n_dims, "tensor n_dims")) != BC_OK) return r;
    if (t->n_dims == 0 || t->n_dims > BC__GGUF_MAX_DIMS)
        return bc__fail(c->err, BC_ERR_FORMAT, "tensor '%.*s': n_dims %u not in 1..4", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, t->n_dims);
    for (i = 0; i < 4; i++) t->ne[i] = 1;
    for (i = 0; i < t->n_dims; i++) {
        uint64_t d;
        if ((r = bc__cur_u64(c, &d, "tensor dimension")) != BC_OK) return r;
        if (d == 0 || d > (uint64_t)INT64_MAX || bc__mul_overflows(n, d, &n) || n > (uint64_t)INT64_MAX)
            return bc__fail(c->err, BC_ERR_FORMAT, "tensor '%.*s': dimension %u (%llu) is zero or overflows", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, i, (unsigned long long)d);
        t->ne[i] = (int64_t)d;
    }
    if ((r = bc__cur_u32(c, &type, "tensor type")) != BC_OK) return r;
    if (!bc_type_valid(type))
        return bc__fail(c->err, BC_ERR_UNSUPPORTED, "tensor '%.*s': unsupported type %u", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, type);
    t->type = (bc_type)type;
    if (t->ne[0] % bc_type_block_size(t->type) != 0)
        return bc__fail(c->err, BC_ERR_FORMAT, "tensor '%.*s': row of %lld elements is not a whole number of %s blocks", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, (long long)t->ne[0], bc_type_name(t->type));
    t->nbytes = bc_tensor_nbytes(t->type, (int64_t)n);
    if (t->nbytes == 0) return bc__fail(c->err, BC_ERR_FORMAT, "tensor '%.*s': size overflows", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr);
    return bc__cur_u64(c, &t->offset, "tensor offset");
}

static int bc__tensor_cmp_offset(const void *a, const void *b) {
    const bc_gguf_tensor *x = *(const bc_gguf_tensor *const *)a, *y = *(const bc_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Data inside the file, aligned, and no two tensors overlapping. */
static bc_result bc__gguf_check_tensor_data(bc_gguf *g, bc_error *err) {
    uint64_t i;
    const bc_gguf_tensor **order;
    bc_result r = BC_OK;
    if (g->n_tensors == 0) return BC_OK;
    order = BC__CAST(const bc_gguf_tensor **, bc__calloc(g->n_tensors, sizeof *order));
    if (!order) return bc__fail(err, BC_ERR_NOMEM, "out of memory indexing %llu tensors", (unsigned long long)g->n_tensors);
    for (i = 0; i < g->n_tensors; i++) {
        bc_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (t->offset % g->alignment != 0) {
            r = bc__fail(err, BC_ERR_FORMAT, "tensor '%.*s': offset %llu not aligned to %llu", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, (unsigned long long)t->offset, (unsigned long long)g->alignment);
            break;
        }
        if (bc__add_overflows(g->data_offset, t->offset, &start) || bc__add_overflows(start, t->nbytes, &end) || end > g->size) {
            r = bc__fail(err, BC_ERR_FORMAT, "tensor '%.*s': data [%llu, +%llu) ends past the file size %llu", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, (unsigned long long)t->offset, (unsigned long long)t->nbytes, (unsigned long long)g->size);
            break;
        }
        t->data = g->base + start;
        order[i] = t;
    }
    if (r == BC_OK) {
        qsort(order, (size_t)g->n_tensors, sizeof *order, bc__tensor_cmp_offset);
        for (i = 1; i < g->n_tensors; i++)
            if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
                r = bc__fail(err, BC_ERR_FORMAT, "tensors '%.*s' and '%.*s' overlap", (int)(order[i - 1]->name.len > 64 ? 64 : order[i - 1]->name.len), order[i - 1]->name.ptr, (int)(order[i]->name.len > 64 ? 64 : order[i]->name.len), order[i]->name.ptr);
                break;
            }
    }
    bc__free(BC__CAST(void *, order));
    return r;
}

/* String arrays get an offset index so element i is found in O(1). */
typedef struct bc__gguf_index {
    const bc_gguf_kv *kv;
    uint64_t *offsets; /* offsets[i]: position of element i's length field */
} bc__gguf_index;

static bc_result bc__gguf_index_strings(bc_gguf *g, bc_error *err) {
    uint64_t i, j, n_arrays = 0, k = 0;
    bc__gguf_index *idx;
    for (i = 0; i < g->n_kv; i++)
        if (g->kv[i].type == BC_GGUF_ARRAY && g->kv[i].elem_type == BC_GGUF_STRING) n_arrays++;
    g->n_str_index_ = n_arrays;
    if (n_arrays == 0) return BC_OK;
    idx = BC__CAST(bc__gguf_index *, bc__calloc(n_arrays, sizeof *idx));
    if (!idx) return bc__fail(err, BC_ERR_NOMEM, "out of memory indexing string arrays");
    g->str_index_ = idx;
    for (i = 0; i < g->n_kv; i++) {
        const bc_gguf_kv *kv = &g->kv[i];
        uint64_t pos;
        if (!(kv->type == BC_GGUF_ARRAY && kv->elem_type == BC_GGUF_STRING)) continue;
        idx[k].kv = kv;
        idx[k].offsets = BC__CAST(uint64_t *, bc__calloc(kv->n ? kv->n : 1, sizeof(uint64_t)));
        if (!idx[k].offsets) return bc__fail(err, BC_ERR_NOMEM, "out of memory indexing %llu strings", (unsigned long long)kv->n);
        pos = (uint64_t)(kv->data - g->base);
        for (j = 0; j < kv->n; j++) { /* bounds were checked while skipping the array */
            idx[k].offsets[j] = pos;
            pos += 8 + bc__rd_le(g->base + pos, 8);
        }
        k++;
    }
    return BC_OK;
}

static void bc__gguf_reset(bc_gguf *g) {
    uint64_t i;
    bc__gguf_index *idx = BC__CAST(bc__gguf_index *, g->str_index_);
    bc__file_data fd;
    for (i = 0; idx && i < g->n_str_index_; i++) bc__free(idx[i].offsets);
    bc__free(idx);
    bc__free(g->kv);
    bc__free(g->tensors);
    fd.data = BC__CAST(const uint8_t *, g->owned_);
    fd.size = g->owned_size_;
    fd.owned = g->owned_;
    fd.kind = g->owned_kind_;
    bc__release_file(&fd);
    memset(g, 0, sizeof *g);
}

static int bc__str_cmp(const void *a, const void *b) {
    const bc_str *x = *(const bc_str *const *)a, *y = *(const bc_str *const *)b;
    uint64_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, (size_t)n);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* n names spaced stride bytes apart: sorted, so duplicates are found in O(n log n) even
   in a hostile file with millions of entries. */
static bc_result bc__check_unique_names(const bc_str *first, size_t stride, uint64_t n, const char *what, bc_error *err) {
    const bc_str **v;
    uint64_t i;
    bc_result r = BC_OK;
    if (n < 2) return BC_OK;
    v = BC__CAST(const bc_str **, bc__calloc(n, sizeof *v));
    if (!v) return bc__fail(err, BC_ERR_NOMEM, "out of memory checking %s uniqueness", what);
    for (i = 0; i < n; i++) v[i] = BC__CAST(const bc_str *, BC__CAST(const uint8_t *, first) + i * stride);
    qsort(v, (size_t)n, sizeof *v, bc__str_cmp);
    for (i = 1; i < n && r == BC_OK; i++)
        if (bc__str_same(*v[i - 1], *v[i]))
            r = bc__fail(err, BC_ERR_FORMAT, "duplicate %s '%.*s'", what, (int)(v[i]->len > 64 ? 64 : v[i]->len), v[i]->ptr);
    bc__free(BC__CAST(void *, v));
    return r;
}

static bc_result bc__gguf_parse(bc_gguf *g, bc_error *err) {
    bc__cursor c;
    uint32_t magic;
    uint64_t i;
    bc_result r;
    const bc_gguf_kv *align;
    c.base = g->base;
    c.size = g->size;
    c.pos = 0;
    c.err = err;
    if ((r = bc__cur_u32(&c, &magic, "magic")) != BC_OK) return r;
    if (magic != BC__GGUF_MAGIC) return bc__fail(err, BC_ERR_FORMAT, "not a GGUF file (magic %08x)", magic);
    if ((r = bc__cur_u32(&c, &g->version, "version")) != BC_OK) return r;
    if (g->version != 2 && g->version != 3) return bc__fail(err, BC_ERR_UNSUPPORTED, "GGUF version %u (2 and 3 are supported)", g->version);
    if ((r = bc__cur_u64(&c, &g->n_tensors, "tensor count")) != BC_OK) return r;
    if ((r = bc__cur_u64(&c, &g->n_kv, "metadata count")) != BC_OK) return r;
    /* a key-value takes at least 12 bytes and a tensor info at least 24: bound the
       counts by the file before allocating anything */
    if (g->n_kv > g->size / 12) return bc__fail(err, BC_ERR_FORMAT, "GGUF metadata count %llu exceeds what the file can hold", (unsigned long long)g->n_kv);
    if (g->n_tensors > g->size / 24) return bc__fail(err, BC_ERR_FORMAT, "GGUF tensor count %llu exceeds what the file can hold", (unsigned long long)g->n_tensors);
    g->kv = BC__CAST(bc_gguf_kv *, bc__calloc(g->n_kv ? g->n_kv : 1, sizeof(bc_gguf_kv)));
    g->tensors = BC__CAST(bc_gguf_tensor *, bc__calloc(g->n_tensors ? g->n_tensors : 1, sizeof(bc_gguf_tensor)));
    if (!g->kv || !g->tensors) return bc__fail(err, BC_ERR_NOMEM, "out of memory for GGUF header");
    for (i = 0; i < g->n_kv; i++)
        if ((r = bc__gguf_read_kv(&c, &g->kv[i])) != BC_OK) return r;
    if ((r = bc__check_unique_names(&g->kv[0].key, sizeof(bc_gguf_kv), g->n_kv, "key", err)) != BC_OK) return r;
    for (i = 0; i < g->n_tensors; i++)
        if ((r = bc__gguf_read_tensor_info(&c, &g->tensors[i])) != BC_OK) return r;
    if ((r = bc__check_unique_names(&g->tensors[0].name, sizeof(bc_gguf_tensor), g->n_tensors, "tensor name", err)) != BC_OK) return r;
    g->alignment = 32;
    align = bc_gguf_find_kv(g, "general.alignment");
    if (align) {
        if (align->type != BC_GGUF_UINT32) return bc__fail(err, BC_ERR_FORMAT, "general.alignment is not a uint32");
        g->alignment = bc__rd_le(align->data, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)))
            return bc__fail(err, BC_ERR_FORMAT, "general.alignment %llu is not a power of two", (unsigned long long)g->alignment);
    }
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_offset > g->size) return bc__fail(err, BC_ERR_FORMAT, "GGUF data section starts past the end of the file");
    if ((r = bc__gguf_check_tensor_data(g, err)) != BC_OK) return r;
    return bc__gguf_index_strings(g, err);
}

BC_API bc_result bc_gguf_open_buffer(bc_gguf *g, const void *data, uint64_t size, bc_error *err) {
    bc_result r;
    memset(g, 0, sizeof *g);
    if (!data && size) return bc__fail(err, BC_ERR_INVALID, "NULL buffer");
    g->base = BC__CAST(const uint8_t *, data);
    g->size = size;
    r = bc__gguf_parse(g, err);
    if (r != BC_OK) bc__gguf_reset(g);
    else bc__ok(err);
    return r;
}

#ifndef BC_NO_STDIO
BC_API bc_result bc_gguf_open_file(bc_gguf *g, const char *path, bc_error *err) {
    bc__file_data fd;
    bc_result r;
    memset(g, 0, sizeof *g);
#ifdef BC_NO_MMAP
    r = bc__read_whole_file(&fd, path, 0, err);
#else
    r = bc__read_whole_file(&fd, path, 1, err);
#endif
    if (r != BC_OK) return r;
    r = bc_gguf_open_buffer(g, fd.data, fd.size, err);
    if (r != BC_OK) {
        bc__release_file(&fd);
        if (err) {
            char msg[sizeof err->message];
            memcpy(msg, err->message, sizeof msg);
            snprintf(err->message, sizeof err->message, "%.80s: %.170s", path, msg);
        }
        return r;
    }
    g->owned_ = fd.owned;
    g->owned_size_ = fd.size;
    g->owned_kind_ = fd.kind;
    return BC_OK;
}
#endif

BC_API void bc_gguf_close(bc_gguf *g) {
    if (g) bc__gguf_reset(g);
}

BC_API const bc_gguf_kv *bc_gguf_find_kv(const bc_gguf *g, const char *key) {
    uint64_t i;
    for (i = 0; i < g->n_kv; i++)
        if (bc__str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

BC_API const bc_gguf_tensor *bc_gguf_find_tensor(const bc_gguf *g, const char *name) {
    uint64_t i;
    for (i = 0; i < g->n_tensors; i++)
        if (bc__str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

/* Any integer type whose value fits in uint32. */
BC_API bc_result bc_gguf_get_u32(const bc_gguf *g, const char *key, uint32_t *out) {
    const bc_gguf_kv *kv = bc_gguf_find_kv(g, key);
    int64_t v;
    if (!kv) return BC_ERR_FORMAT;
    switch (kv->type) {
    case BC_GGUF_UINT8: v = kv->data[0]; break;
    case BC_GGUF_INT8: v = (int8_t)kv->data[0]; break;
    case BC_GGUF_UINT16: v = (int64_t)bc__rd_le(kv->data, 2); break;
    case BC_GGUF_INT16: v = (int16_t)bc__rd_le(kv->data, 2); break;
    case BC_GGUF_UINT32: v = (int64_t)bc__rd_le(kv->data, 4); break;
    case BC_GGUF_INT32: v = (int32_t)bc__rd_le(kv->data, 4); break;
    case BC_GGUF_UINT64: { uint64_t u = bc__rd_le(kv->data, 8); if (u > UINT32_MAX) return BC_ERR_FORMAT; v = (int64_t)u; break; }
    case BC_GGUF_INT64: v = (int64_t)bc__rd_le(kv->data, 8); break;
    default: return BC_ERR_FORMAT;
    }
    if (v < 0 || v > (int64_t)UINT32_MAX) return BC_ERR_FORMAT;
    *out = (uint32_t)v;
    return BC_OK;
}

BC_API bc_result bc_gguf_get_f32(const bc_gguf *g, const char *key, float *out) {
    const bc_gguf_kv *kv = bc_gguf_find_kv(g, key);
    if (!kv) return BC_ERR_FORMAT;
    if (kv->type == BC_GGUF_FLOAT32) { *out = bc__bits_f32((uint32_t)bc__rd_le(kv->data, 4)); return BC_OK; }
    if (kv->type == BC_GGUF_FLOAT64) {
        uint64_t u = bc__rd_le(kv->data, 8);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
        return BC_OK;
    }
    return BC_ERR_FORMAT;
}

BC_API bc_result bc_gguf_get_bool(const bc_gguf *g, const char *key, int *out) {
    const bc_gguf_kv *kv = bc_gguf_find_kv(g, key);
    if (!kv || kv->type != BC_GGUF_BOOL) return BC_ERR_FORMAT;
    *out = kv->data[0] != 0;
    return BC_OK;
}

BC_API bc_result bc_gguf_get_str(const bc_gguf *g, const char *key, bc_str *out) {
    const bc_gguf_kv *kv = bc_gguf_find_kv(g, key);
    if (!kv || kv->type != BC_GGUF_STRING) return BC_ERR_FORMAT;
    out->len = bc__rd_le(kv->data, 8);
    out->ptr = BC__CAST(const char *, kv->data + 8);
    return BC_OK;
}

BC_API bc_result bc_gguf_array_str(const bc_gguf *g, const bc_gguf_kv *kv, uint64_t i, bc_str *out) {
    const bc__gguf_index *idx = BC__CAST(const bc__gguf_index *, g->str_index_);
    uint64_t k;
    if (!kv || kv->type != BC_GGUF_ARRAY || kv->elem_type != BC_GGUF_STRING || i >= kv->n) return BC_ERR_RANGE;
    for (k = 0; k < g->n_str_index_; k++)
        if (idx[k].kv == kv) {
            uint64_t pos = idx[k].offsets[i];
            out->len = bc__rd_le(g->base + pos, 8);
            out->ptr = BC__CAST(const char *, g->base + pos + 8);
            return BC_OK;
        }
    return BC_ERR_RANGE;
}

/* --- 3b. GGUF writer ------------------------------------------------------- */
/* The writer keeps metadata and tensor infos in memory (small), then streams tensor
   data straight to the file in the order the tensors were added. */
typedef struct bc__wbuf {
    uint8_t *p;
    uint64_t n, cap;
    int failed;
} bc__wbuf;

static void bc__wbuf_put(bc__wbuf *b, const void *data, uint64_t n) {
    if (b->failed || n == 0) return;
    if (b->n + n > b->cap) {
        uint64_t cap = b->cap ? b->cap : 4096;
        void *q;
        while (cap < b->n + n) cap *= 2;
        q = bc__realloc(b->p, cap);
        if (!q) { b->failed = 1; return; }
        b->p = BC__CAST(uint8_t *, q);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)n);
    b->n += n;
}

static void bc__wbuf_le(bc__wbuf *b, uint64_t v, int bytes) {
    uint8_t tmp[8];
    int i;
    for (i = 0; i < bytes; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    bc__wbuf_put(b, tmp, (uint64_t)bytes);
}

static void bc__wbuf_str(bc__wbuf *b, const char *s, uint64_t len) {
    bc__wbuf_le(b, len, 8);
    bc__wbuf_put(b, s, len);
}

struct bc_gguf_writer {
    bc__wbuf kv;              /* serialized key-value pairs */
    uint64_t n_kv;
    bc__wbuf ti;              /* serialized tensor infos */
    uint64_t n_tensors;
    uint64_t *sizes;          /* bytes of each tensor, in order */
    uint64_t next_offset;
    uint64_t alignment;
    uint64_t written;         /* tensors written so far */
    uint64_t partial;         /* bytes of the current tensor written by write_chunk */
#ifndef BC_NO_STDIO
    FILE *f;
#endif
};

BC_API bc_result bc_gguf_writer_create(bc_gguf_writer **w, bc_error *err) {
    *w = BC__CAST(bc_gguf_writer *, bc__calloc(1, sizeof(bc_gguf_writer)));
    if (!*w) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    (*w)->alignment = 32;
    return BC_OK;
}

BC_API void bc_gguf_writer_free(bc_gguf_writer *w) {
    if (!w) return;
#ifndef BC_NO_STDIO
    if (w->f) fclose(w->f);
#endif
    bc__free(w->kv.p);
    bc__free(w->ti.p);
    bc__free(w->sizes);
    bc__free(w);
}

static bc_result bc__writer_key(bc_gguf_writer *w, const char *key, bc_gguf_type t) {
    bc__wbuf_str(&w->kv, key, strlen(key));
    bc__wbuf_le(&w->kv, (uint64_t)t, 4);
    w->n_kv++;
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_u32(bc_gguf_writer *w, const char *key, uint32_t v) {
    bc__writer_key(w, key, BC_GGUF_UINT32);
    bc__wbuf_le(&w->kv, v, 4);
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_i32(bc_gguf_writer *w, const char *key, int32_t v) {
    bc__writer_key(w, key, BC_GGUF_INT32);
    bc__wbuf_le(&w->kv, (uint32_t)v, 4);
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_f32(bc_gguf_writer *w, const char *key, float v) {
    bc__writer_key(w, key, BC_GGUF_FLOAT32);
    bc__wbuf_le(&w->kv, bc__f32_bits(v), 4);
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_bool(bc_gguf_writer *w, const char *key, int v) {
    bc__writer_key(w, key, BC_GGUF_BOOL);
    bc__wbuf_le(&w->kv, v ? 1u : 0u, 1);
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_str(bc_gguf_writer *w, const char *key, const char *v) {
    bc__writer_key(w, key, BC_GGUF_STRING);
    bc__wbuf_str(&w->kv, v, strlen(v));
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

/* Scalar elements are given in host order and written little-endian. */
BC_API bc_result bc_gguf_writer_set_arr(bc_gguf_writer *w, const char *key, bc_gguf_type elem_type,
                                        const void *data, uint64_t n) {
    uint64_t sz = bc__gguf_scalar_size((uint32_t)elem_type), i;
    if (!sz) return BC_ERR_INVALID;
    bc__writer_key(w, key, BC_GGUF_ARRAY);
    bc__wbuf_le(&w->kv, (uint64_t)elem_type, 4);
    bc__wbuf_le(&w->kv, n, 8);
    for (i = 0; i < n; i++) {
        uint64_t v = 0;
        const uint8_t *p = BC__CAST(const uint8_t *, data) + i * sz;
        switch (sz) {
        case 1: v = p[0]; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        default: memcpy(&v, p, 8); break;
        }
        bc__wbuf_le(&w->kv, v, (int)sz);
    }
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_set_arr_str(bc_gguf_writer *w, const char *key,
                                            const char *const *strs, const uint64_t *lens, uint64_t n) {
    uint64_t i;
    bc__writer_key(w, key, BC_GGUF_ARRAY);
    bc__wbuf_le(&w->kv, (uint64_t)BC_GGUF_STRING, 4);
    bc__wbuf_le(&w->kv, n, 8);
    for (i = 0; i < n; i++) bc__wbuf_str(&w->kv, strs[i], lens ? lens[i] : strlen(strs[i]));
    return w->kv.failed ? BC_ERR_NOMEM : BC_OK;
}

BC_API bc_result bc_gguf_writer_add_tensor(bc_gguf_writer *w, const char *name, bc_type type,
                                           uint32_t n_dims, const int64_t *ne) {
    uint64_t n = 1, bytes;
    uint32_t i;
    void *q;
    if (n_dims == 0 || n_dims > 4 || !bc_type_valid((uint32_t)type)) return BC_ERR_INVALID;
    for (i = 0; i < n_dims; i++)
        if (ne[i] <= 0 || bc__mul_overflows(n, (uint64_t)ne[i], &n)) return BC_ERR_INVALID;
    if (ne[0] % bc_type_block_size(type) != 0) return BC_ERR_INVALID;
    bytes = bc_tensor_nbytes(type, (int64_t)n);
    if (!bytes) return BC_ERR_INVALID;
    q = bc__realloc(w->sizes, (w->n_tensors + 1) * sizeof(uint64_t));
    if (!q) return BC_ERR_NOMEM;
    w->sizes = BC__CAST(uint64_t *, q);
    w->sizes[w->n_tensors++] = bytes;
    bc__wbuf_str(&w->ti, name, strlen(name));
    bc__wbuf_le(&w->ti, n_dims, 4);
    for (i = 0; i < n_dims; i++) bc__wbuf_le(&w->ti, (uint64_t)ne[i], 8);
    bc__wbuf_le(&w->ti, (uint64_t)type, 4);
    bc__wbuf_le(&w->ti, w->next_offset, 8);
    w->next_offset += (bytes + w->alignment - 1) / w->alignment * w->alignment;
    return w->ti.failed ? BC_ERR_NOMEM : BC_OK;
}

#ifndef BC_NO_STDIO
static bc_result bc__writer_pad(bc_gguf_writer *w, uint64_t pos, bc_error *err) {
    static const uint8_t zeros[64] = {0};
    uint64_t pad = (w->alignment - pos % w->alignment) % w->alignment;
    if (pad && fwrite(zeros, 1, (size_t)pad, w->f) != pad) return bc__fail(err, BC_ERR_IO, "write failed (disk full?)");
    return BC_OK;
}

BC_API bc_result bc_gguf_writer_begin(bc_gguf_writer *w, const char *path, bc_error *err) {
    bc__wbuf head;
    bc_result r = BC_OK;
    memset(&head, 0, sizeof head);
    if (w->kv.failed || w->ti.failed) return bc__fail(err, BC_ERR_NOMEM, "out of memory building the GGUF header");
    w->f = fopen(path, "wb");
    if (!w->f) return bc__fail(err, BC_ERR_IO, "cannot create '%s'", path);
    bc__wbuf_le(&head, BC__GGUF_MAGIC, 4);
    bc__wbuf_le(&head, 3, 4);
    bc__wbuf_le(&head, w->n_tensors, 8);
    bc__wbuf_le(&head, w->n_kv, 8);
    bc__wbuf_put(&head, w->kv.p, w->kv.n);
    bc__wbuf_put(&head, w->ti.p, w->ti.n);
    if (head.failed) r = bc__fail(err, BC_ERR_NOMEM, "out of memory building the GGUF header");
    else if (fwrite(head.p, 1, (size_t)head.n, w->f) != head.n) r = bc__fail(err, BC_ERR_IO, "cannot write '%s'", path);
    else r = bc__writer_pad(w, head.n, err);
    bc__free(head.p);
    return r;
}

BC_API bc_result bc_gguf_writer_write_chunk(bc_gguf_writer *w, const void *data, uint64_t nbytes, bc_error *err) {
    uint64_t size;
    if (!w->f) return bc__fail(err, BC_ERR_INVALID, "bc_gguf_writer_begin was not called");
    if (w->written >= w->n_tensors) return bc__fail(err, BC_ERR_INVALID, "more tensors written than added");
    size = w->sizes[w->written];
    if (nbytes > size - w->partial)
        return bc__fail(err, BC_ERR_INVALID, "tensor %llu: %llu bytes given, %llu expected", (unsigned long long)w->written,
                        (unsigned long long)(w->partial + nbytes), (unsigned long long)size);
    if (nbytes && fwrite(data, 1, (size_t)nbytes, w->f) != nbytes) return bc__fail(err, BC_ERR_IO, "write failed (disk full?)");
    w->partial += nbytes;
    if (w->partial < size) return BC_OK;
    w->partial = 0;
    w->written++;
    return bc__writer_pad(w, size, err);
}

BC_API bc_result bc_gguf_writer_write_tensor(bc_gguf_writer *w, const void *data, uint64_t nbytes, bc_error *err) {
    if (w->partial || (w->written < w->n_tensors && nbytes != w->sizes[w->written]))
        return bc__fail(err, BC_ERR_INVALID, "tensor %llu: %llu bytes given, %llu expected", (unsigned long long)w->written,
                        (unsigned long long)nbytes, (unsigned long long)(w->written < w->n_tensors ? w->sizes[w->written] : 0));
    return bc_gguf_writer_write_chunk(w, data, nbytes, err);
}

BC_API bc_result bc_gguf_writer_end(bc_gguf_writer *w, bc_error *err) {
    int bad;
    if (!w->f) return bc__fail(err, BC_ERR_INVALID, "bc_gguf_writer_begin was not called");
    if (w->written != w->n_tensors)
        return bc__fail(err, BC_ERR_INVALID, "%llu of %llu tensors written", (unsigned long long)w->written, (unsigned long long)w->n_tensors);
    bad = fflush(w->f) != 0 || ferror(w->f);
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    return bad ? bc__fail(err, BC_ERR_IO, "write failed (disk full?)") : BC_OK;
}
#endif


/* --- 3c. SentencePiece tokenizer.model (protobuf) ---------------------------
   Only the fields the tokenizer needs; everything else is skipped by wire type. */

typedef struct bc__pb {
    const uint8_t *p, *end;
} bc__pb;

static int bc__pb_varint(bc__pb *b, uint64_t *v) {
    int shift = 0;
    *v = 0;
    while (b->p < b->end && shift < 64) {
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 1;
        shift += 7;
    }
    return 0;
}

/* Reads one field header and, for length-delimited fields, the sub-buffer. */
static int bc__pb_field(bc__pb *b, uint32_t *field, uint32_t *wire, uint64_t *val, bc__pb *sub) {
    uint64_t key;
    if (!bc__pb_varint(b, &key)) return 0;
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return bc__pb_varint(b, val);
    case 1: if (b->end - b->p < 8) return 0; *val = bc__rd_le(b->p, 8); b->p += 8; return 1;
    case 5: if (b->end - b->p < 4) return 0; *val = bc__rd_le(b->p, 4); b->p += 4; return 1;
    case 2:
        if (!bc__pb_varint(b, val) || *val > (uint64_t)(b->end - b->p)) return 0;
        sub->p = b->p;
        sub->end = b->p + *val;
        b->p += *val;
        return 1;
    }
    return 0; /* groups (3, 4) and reserved wire types never appear in these files */
}

static bc_result bc__spm_piece(bc__pb *b, bc_str *piece, float *score, int32_t *type, bc_error *err) {
    uint32_t f, w;
    uint64_t v;
    bc__pb sub;
    piece->ptr = "";
    piece->len = 0;
    *score = 0.0f;
    *type = BC_PIECE_NORMAL;
    while (b->p < b->end) {
        if (!bc__pb_field(b, &f, &w, &v, &sub)) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: corrupt piece");
        if (f == 1 && w == 2) {
            piece->ptr = BC__CAST(const char *, sub.p);
            piece->len = v;
            if (memchr(sub.p, 0, (size_t)v)) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: piece contains a NUL byte");
        } else if (f == 2 && w == 5) {
            *score = bc__bits_f32((uint32_t)v);
        } else if (f == 3 && w == 0) {
            if (v < 1 || v > 6) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: piece type %llu unknown", (unsigned long long)v);
            *type = (int32_t)v;
        }
    }
    return BC_OK;
}

static bc_result bc__spm_trainer(bc_spm_model *m, bc__pb *b, bc_error *err) {
    uint32_t f, w;
    uint64_t v;
    bc__pb sub;
    while (b->p < b->end) {
        if (!bc__pb_field(b, &f, &w, &v, &sub)) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: corrupt trainer_spec");
        if (w != 0) continue;
        switch (f) {
        case 3: m->model_type = (int)v; break;
        case 25: m->split_digits = v != 0; break;
        case 35: m->byte_fallback = v != 0; break;
        case 40: m->unk_id = (int32_t)v; break;
        case 41: m->bos_id = (int32_t)v; break;
        case 42: m->eos_id = (int32_t)v; break;
        case 43: m->pad_id = (int32_t)v; break;
        }
    }
    return BC_OK;
}

static bc_result bc__spm_normalizer(bc_spm_model *m, bc__pb *b, bc_error *err) {
    uint32_t f, w;
    uint64_t v;
    bc__pb sub;
    while (b->p < b->end) {
        if (!bc__pb_field(b, &f, &w, &v, &sub)) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: corrupt normalizer_spec");
        if (f == 1 && w == 2) {
            size_t n = v < sizeof m->normalizer_name - 1 ? (size_t)v : sizeof m->normalizer_name - 1;
            memcpy(m->normalizer_name, sub.p, n);
            m->normalizer_name[n] = 0;
        } else if (f == 3 && w == 0) {
            m->add_dummy_prefix = v != 0;
        } else if (f == 4 && w == 0) {
            m->remove_extra_whitespaces = v != 0;
        }
    }
    return BC_OK;
}

BC_API bc_result bc_spm_parse(bc_spm_model *m, const void *data, uint64_t size, bc_error *err) {
    bc__pb b, sub;
    uint32_t f, w;
    uint64_t v, n = 0, chars = 0, total;
    int32_t i = 0;
    char *strings;
    bc_result r = BC_OK;
    memset(m, 0, sizeof *m);
    m->model_type = 1;
    m->add_dummy_prefix = 1;
    m->remove_extra_whitespaces = 1;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    /* pass 1: count pieces and their bytes, read the specs */
    b.p = BC__CAST(const uint8_t *, data);
    b.end = b.p + size;
    while (b.p < b.end) {
        if (!bc__pb_field(&b, &f, &w, &v, &sub)) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: not a SentencePiece model (corrupt protobuf)");
        if (f == 1 && w == 2) { n++; chars += v + 1; }
        else if (f == 2 && w == 2) { if ((r = bc__spm_trainer(m, &sub, err)) != BC_OK) return r; }
        else if (f == 3 && w == 2) { if ((r = bc__spm_normalizer(m, &sub, err)) != BC_OK) return r; }
    }
    if (n == 0) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: no pieces");
    if (n > INT32_MAX / 2) return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: too many pieces");
    if (bc__mul_overflows(n, sizeof(char *), &total) || bc__add_overflows(total, chars, &total))
        return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: size overflows");
    /* one block holds the pointer array and the NUL-terminated strings */
    m->pieces = BC__CAST(char **, bc__malloc(total));
    m->scores = BC__CAST(float *, bc__calloc(n, sizeof(float)));
    m->types = BC__CAST(int32_t *, bc__calloc(n, sizeof(int32_t)));
    if (!m->pieces || !m->scores || !m->types) { bc_spm_free(m); return bc__fail(err, BC_ERR_NOMEM, "out of memory for %llu pieces", (unsigned long long)n); }
    strings = BC__CAST(char *, m->pieces + n);
    m->n_pieces = (int32_t)n;
    /* pass 2: the pieces */
    b.p = BC__CAST(const uint8_t *, data);
    while (b.p < b.end) {
        bc_str s;
        bc__pb_field(&b, &f, &w, &v, &sub);
        if (!(f == 1 && w == 2)) continue;
        if ((r = bc__spm_piece(&sub, &s, &m->scores[i], &m->types[i], err)) != BC_OK) { bc_spm_free(m); return r; }
        memcpy(strings, s.ptr, (size_t)s.len);
        strings[s.len] = 0;
        m->pieces[i++] = strings;
        strings += s.len + 1;
    }
    if (m->unk_id >= m->n_pieces || m->bos_id >= m->n_pieces || m->eos_id >= m->n_pieces || m->pad_id >= m->n_pieces ||
        m->unk_id < 0) {
        bc_spm_free(m);
        return bc__fail(err, BC_ERR_FORMAT, "tokenizer.model: special token id out of range");
    }
    bc__ok(err);
    return BC_OK;
}

BC_API void bc_spm_free(bc_spm_model *m) {
    if (!m) return;
    bc__free(m->pieces);
    bc__free(m->scores);
    bc__free(m->types);
    memset(m, 0, sizeof *m);
}

/* ==========================================================================
   4. Quantization
   ========================================================================== */

BC_API const char *bc_type_name(bc_type t) {
    switch (t) {
    case BC_TYPE_F32: return "f32";
    case BC_TYPE_F16: return "f16";
    case BC_TYPE_BF16: return "bf16";
    case BC_TYPE_Q8_0: return "q8_0";
    case BC_TYPE_Q4_0: return "q4_0";
    }
    return "unknown";
}

BC_API int bc_type_valid(uint32_t t) {
    return t == BC_TYPE_F32 || t == BC_TYPE_F16 || t == BC_TYPE_BF16 || t == BC_TYPE_Q8_0 ||
           t == BC_TYPE_Q4_0;
}

BC_API int64_t bc_type_block_size(bc_type t) {
    return (t == BC_TYPE_Q4_0 || t == BC_TYPE_Q8_0) ? 32 : 1;
}

BC_API int64_t bc_type_block_bytes(bc_type t) {
    switch (t) {
    case BC_TYPE_F32: return 4;
    case BC_TYPE_F16: case BC_TYPE_BF16: return 2;
    case BC_TYPE_Q8_0: return (int64_t)sizeof(bc_block_q8_0);
    case BC_TYPE_Q4_0: return (int64_t)sizeof(bc_block_q4_0);
    }
    return 0;
}

BC_API uint64_t bc_tensor_nbytes(bc_type t, int64_t n) {
    int64_t bs = bc_type_block_size(t);
    uint64_t out;
    if (n < 0 || !bc_type_valid((uint32_t)t) || n % bs != 0) return 0;
    if (bc__mul_overflows((uint64_t)(n / bs), (uint64_t)bc_type_block_bytes(t), &out)) return 0;
    return out;
}

BC_API void bc_quantize_row_q8_0_ref(const float *x, bc_block_q8_0 *y, int64_t n) {
    int64_t b;
    int j;
    for (b = 0; b < n / BC_QK8_0; b++) {
        const float *xb = x + b * BC_QK8_0;
        float amax = 0.0f, d, id;
        for (j = 0; j < BC_QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        d = amax / 127.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = bc_f32_to_fp16(d);
        for (j = 0; j < BC_QK8_0; j++) y[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

BC_API void bc_dequantize_row_q8_0(const bc_block_q8_0 *x, float *y, int64_t n) {
    int64_t b;
    int j;
    for (b = 0; b < n / BC_QK8_0; b++) {
        float d = bc_fp16_to_f32(x[b].d);
        for (j = 0; j < BC_QK8_0; j++) y[b * BC_QK8_0 + j] = (float)x[b].qs[j] * d;
    }
}

BC_API void bc_quantize_row_q4_0_ref(const float *x, bc_block_q4_0 *y, int64_t n) {
    int64_t b;
    int j;
    for (b = 0; b < n / BC_QK4_0; b++) {
        const float *xb = x + b * BC_QK4_0;
        float amax = 0.0f, max = 0.0f, d, id;
        for (j = 0; j < BC_QK4_0; j++) {
            if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); max = xb[j]; }
        }
        /* the signed extreme maps to -8, so the full 16 levels are used */
        d = max / -8.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = bc_f32_to_fp16(d);
        for (j = 0; j < BC_QK4_0 / 2; j++) {
            int q0 = (int)(xb[j] * id + 8.5f);
            int q1 = (int)(xb[j + BC_QK4_0 / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

BC_API void bc_dequantize_row_q4_0(const bc_block_q4_0 *x, float *y, int64_t n) {
    int64_t b;
    int j;
    for (b = 0; b < n / BC_QK4_0; b++) {
        float d = bc_fp16_to_f32(x[b].d);
        for (j = 0; j < BC_QK4_0 / 2; j++) {
            y[b * BC_QK4_0 + j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            y[b * BC_QK4_0 + j + BC_QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

BC_API bc_result bc_quantize_row(bc_type t, const float *x, void *y, int64_t n) {
    int64_t i;
    if (n % bc_type_block_size(t) != 0) return BC_ERR_INVALID;
    switch (t) {
    case BC_TYPE_F32: memcpy(y, x, (size_t)n * 4); return BC_OK;
    case BC_TYPE_F16:
        for (i = 0; i < n; i++) BC__CAST(uint16_t *, y)[i] = bc_f32_to_fp16(x[i]);
        return BC_OK;
    case BC_TYPE_BF16:
        for (i = 0; i < n; i++) BC__CAST(uint16_t *, y)[i] = bc_f32_to_bf16(x[i]);
        return BC_OK;
    case BC_TYPE_Q8_0: bc_quantize_row_q8_0_ref(x, BC__CAST(bc_block_q8_0 *, y), n); return BC_OK;
    case BC_TYPE_Q4_0: bc_quantize_row_q4_0_ref(x, BC__CAST(bc_block_q4_0 *, y), n); return BC_OK;
    }
    return BC_ERR_UNSUPPORTED;
}

BC_API bc_result bc_dequantize_row(bc_type t, const void *x, float *y, int64_t n) {
    int64_t i;
    if (n % bc_type_block_size(t) != 0) return BC_ERR_INVALID;
    switch (t) {
    case BC_TYPE_F32: memcpy(y, x, (size_t)n * 4); return BC_OK;
    case BC_TYPE_F16:
        for (i = 0; i < n; i++) y[i] = bc_fp16_to_f32(BC__CAST(const uint16_t *, x)[i]);
        return BC_OK;
    case BC_TYPE_BF16:
        for (i = 0; i < n; i++) y[i] = bc_bf16_to_f32(BC__CAST(const uint16_t *, x)[i]);
        return BC_OK;
    case BC_TYPE_Q8_0: bc_dequantize_row_q8_0(BC__CAST(const bc_block_q8_0 *, x), y, n); return BC_OK;
    case BC_TYPE_Q4_0: bc_dequantize_row_q4_0(BC__CAST(const bc_block_q4_0 *, x), y, n); return BC_OK;
    }
    return BC_ERR_UNSUPPORTED;
}

/* ==========================================================================
   5. Kernels
   ========================================================================== */

/* GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_*
   helpers; the warning is about the header, not this code. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/* --- thread pool ----------------------------------------------------------
   bc__pool_run(pool, fn, arg) runs fn(arg, ith, nth) on every worker, the caller being
   worker 0, and returns when all are done. Allocation-free after creation. */
typedef void (*bc__task_fn)(void *arg, int ith, int nth);

typedef struct bc__pool bc__pool;

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BC__CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define BC__CPU_RELAX() __asm__ __volatile__("yield")
#else
#define BC__CPU_RELAX() ((void)0)
#endif

#ifdef BC_NO_THREADS
struct bc__pool {
    int n_threads;
};

static bc__pool *bc__pool_create(int n_threads) {
    bc__pool *p = BC__CAST(bc__pool *, bc__calloc(1, sizeof(bc__pool)));
    (void)n_threads;
    if (p) p->n_threads = 1;
    return p;
}

static void bc__pool_free(bc__pool *p) { bc__free(p); }

static void bc__pool_run(bc__pool *p, bc__task_fn fn, void *arg) {
    (void)p;
    fn(arg, 0, 1);
}
#else
/* Workers spin briefly on a generation counter, then sleep on a condition variable, so a
   decode step (hundreds of small parallel sections) never pays a wake-up syscall while a
   long pause costs no CPU. The caller is worker 0 and takes the mutex only when some worker
   is actually asleep. */
typedef struct bc__worker {
    struct bc__pool *pool;
    int ith;
} bc__worker;

struct bc__pool {
    int n_threads;
    pthread_t *threads;
    bc__worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int generation;           /* bumped for each task (atomic) */
    int pending;              /* workers still running the task (atomic) */
    int sleeping;             /* workers waiting on cv (atomic) */
    int stop;
    bc__task_fn fn;
    void *arg;
};

/* Pure spinning first (a decode step's sections follow each other within microseconds),
   then spinning that yields the core (when the machine has more runnable threads than
   cores, the thread being waited for may be the one descheduled), then sleeping. */
#define BC__SPIN_PURE 2000
#define BC__SPIN_LIMIT 50000
#include <sched.h>

static void bc__spin_pause(int spins) {
    if (spins < BC__SPIN_PURE) BC__CPU_RELAX();
    else sched_yield();
}

static void *bc__worker_main(void *arg) {
    bc__worker *w = BC__CAST(bc__worker *, arg);
    bc__pool *p = w->pool;
    int seen = 0;
    for (;;) {
        int g = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE), spins = 0;
        while (g == seen && spins < BC__SPIN_LIMIT) {
            bc__spin_pause(spins++);
            g = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE);
        }
        if (g == seen) {
            /* Dekker with bc__pool_run: announce the sleep, then re-read the generation
               (both sequentially consistent), so a bump is either seen here or followed
               by a broadcast under the mutex. */
            pthread_mutex_lock(&p->mu);
            __atomic_add_fetch(&p->sleeping, 1, __ATOMIC_SEQ_CST);
            while ((g = __atomic_load_n(&p->generation, __ATOMIC_SEQ_CST)) == seen) pthread_cond_wait(&p->cv, &p->mu);
            __atomic_sub_fetch(&p->sleeping, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) return NULL;
        p->fn(p->arg, w->ith, p->n_threads);
        __atomic_fetch_sub(&p->pending, 1, __ATOMIC_ACQ_REL);
    }
}

static void bc__pool_free(bc__pool *p);

static bc__pool *bc__pool_create(int n_threads) {
    bc__pool *p = BC__CAST(bc__pool *, bc__calloc(1, sizeof(bc__pool)));
    int i;
    if (!p) return NULL;
    p->n_threads = n_threads < 1 ? 1 : n_threads;
    if (p->n_threads == 1) return p;
    p->threads = BC__CAST(pthread_t *, bc__calloc((uint64_t)p->n_threads, sizeof(pthread_t)));
    p->workers = BC__CAST(bc__worker *, bc__calloc((uint64_t)p->n_threads, sizeof(bc__worker)));
    if (!p->threads || !p->workers || pthread_mutex_init(&p->mu, NULL) != 0) {
        bc__free(p->threads);
        bc__free(p->workers);
        bc__free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        bc__free(p->threads);
        bc__free(p->workers);
        bc__free(p);
        return NULL;
    }
    for (i = 1; i < p->n_threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i;
        if (pthread_create(&p->threads[i], NULL, bc__worker_main, &p->workers[i]) != 0) {
            p->n_threads = i; /* the ones started are shut down by free */
            bc__pool_free(p);
            return NULL;
        }
    }
    return p;
}

static void bc__pool_free(bc__pool *p) {
    int i;
    if (!p) return;
    if (p->n_threads > 1) {
        pthread_mutex_lock(&p->mu);
        __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&p->generation, 1, __ATOMIC_SEQ_CST);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
    bc__free(p->threads);
    bc__free(p->workers);
    bc__free(p);
}

static void bc__pool_run(bc__pool *p, bc__task_fn fn, void *arg) {
    int spins;
    if (!p || p->n_threads == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    __atomic_store_n(&p->pending, p->n_threads - 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&p->generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleeping, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n_threads);
    for (spins = 0; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0; spins++) bc__spin_pause(spins);
}
#endif

/* Hands out work units [0, n) to the threads of one pool run, first come first served,
   so a core slowed by something else on the machine does not hold the others up. */
typedef struct bc__counter {
    int64_t next;             /* atomic */
} bc__counter;

static int64_t bc__claim(bc__counter *c) {
#ifdef BC_NO_THREADS
    return c->next++;
#else
    return __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
#endif
}

/* --- matrix multiply --------------------------------------------------------
   A weight matrix as stored in the model file: rows x cols, row-major, each row
   bc_tensor_nbytes(type, cols) bytes; optionally also repacked for the SIMD kernels. */
typedef struct bc__weight {
    bc_type type;
    int64_t rows;             /* output features */
    int64_t cols;             /* input features */
    uint64_t row_bytes;
    const void *data;
    void *packed;             /* rows / 16 groups in the interleaved layout (bc__weight_pack), or NULL */
    int amx;                  /* packed, and this process may use AMX tiles on it */
} bc__weight;

/* Activations quantized to q8_0, split into planes: the int8 values of each token in a
   row, then each block's scale (the fp16 value, widened) and scale * sum of its values
   (the offset correction for kernels that multiply unsigned weights). */
typedef struct bc__qact {
    const int8_t *qs;         /* [n_tok][k] */
    const float *d;           /* [n_tok][nb] */
    const float *dsum;        /* [n_tok][nb] */
    const float *ncorr;       /* [n_tok][nb]: -off * dsum, off = 8 for q4_0 and 128 for q8_0 weights */
    int64_t k, nb;
} bc__qact;

/* Scratch bytes bc__matmul needs for n_tok activations of width k. */
static uint64_t bc__matmul_scratch_size(int64_t k, int64_t n_tok) {
    return (uint64_t)n_tok * ((uint64_t)k + 12 * (uint64_t)(k / BC_QK8_0 + 1)) + 256;
}

static void bc__qact_layout(void *scratch, int64_t k, int64_t n_tok, bc__qact *a) {
    uint64_t nb = (uint64_t)(k / BC_QK8_0), off = ((uint64_t)n_tok * (uint64_t)k + 63) & ~(uint64_t)63;
    a->qs = BC__CAST(const int8_t *, scratch);
    a->d = BC__CAST(const float *, BC__CAST(uint8_t *, scratch) + off);
    a->dsum = a->d + (uint64_t)n_tok * nb;
    a->ncorr = a->dsum + (uint64_t)n_tok * nb;
    a->k = k;
    a->nb = (int64_t)nb;
}

/* --- scalar reference kernels (the specification) ------------------------------ */

static float bc__vec_dot_q4_0_q8_0_ref(const bc_block_q4_0 *x, const bc_block_q8_0 *y, int64_t n) {
    int64_t b;
    int j;
    float sum = 0.0f;
    for (b = 0; b < n / BC_QK8_0; b++) {
        int isum = 0;
        for (j = 0; j < BC_QK4_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + BC_QK4_0 / 2];
        }
        sum += (float)isum * bc_fp16_to_f32(x[b].d) * bc_fp16_to_f32(y[b].d);
    }
    return sum;
}

static float bc__vec_dot_q8_0_q8_0_ref(const bc_block_q8_0 *x, const bc_block_q8_0 *y, int64_t n) {
    int64_t b;
    int j;
    float sum = 0.0f;
    for (b = 0; b < n / BC_QK8_0; b++) {
        int isum = 0;
        for (j = 0; j < BC_QK8_0; j++) isum += x[b].qs[j] * y[b].qs[j];
        sum += (float)isum * bc_fp16_to_f32(x[b].d) * bc_fp16_to_f32(y[b].d);
    }
    return sum;
}

static float bc__vec_dot_f32_ref(const float *x, const float *y, int64_t n) {
    int64_t i;
    float sum = 0.0f;
    for (i = 0; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static float bc__vec_dot_f16_f32_ref(const uint16_t *x, const float *y, int64_t n) {
    int64_t i;
    float sum = 0.0f;
    for (i = 0; i < n; i++) sum += bc_fp16_to_f32(x[i]) * y[i];
    return sum;
}

static float bc__vec_dot_bf16_f32_ref(const uint16_t *x, const float *y, int64_t n) {
    int64_t i;
    float sum = 0.0f;
    for (i = 0; i < n; i++) sum += bc_bf16_to_f32(x[i]) * y[i];
    return sum;
}

/* y[i] += a * x[i] */
static void bc__vec_mad_f32_ref(float *y, const float *x, float a, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] += a * x[i];
}

static void bc__vec_mad_f16_ref(float *y, const uint16_t *x, float a, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] += a * bc_fp16_to_f32(x[i]);
}

typedef struct bc__matmul_task {
    const bc__weight *w;
    const float *x;
    const void *xq;           /* x quantized to q8_0, for quantized weights */
    int64_t n_tok;
    float *y;
} bc__matmul_task;

static void bc__matmul_rows_ref(void *arg, int ith, int nth) {
    const bc__matmul_task *t = BC__CAST(const bc__matmul_task *, arg);
    const bc__weight *w = t->w;
    int64_t r, tok, k = w->cols;
    int64_t r0 = w->rows * ith / nth, r1 = w->rows * (ith + 1) / nth;
    uint64_t xq_row = (uint64_t)(k / BC_QK8_0) * sizeof(bc_block_q8_0);
    for (tok = 0; tok < t->n_tok; tok++) {
        const float *x = t->x + tok * k;
        const bc_block_q8_0 *xq =
            BC__CAST(const bc_block_q8_0 *, BC__CAST(const uint8_t *, t->xq) + tok * xq_row);
        float *y = t->y + tok * w->rows;
        for (r = r0; r < r1; r++) {
            const void *row = BC__CAST(const uint8_t *, w->data) + (uint64_t)r * w->row_bytes;
            switch (w->type) {
            case BC_TYPE_F32: y[r] = bc__vec_dot_f32_ref(BC__CAST(const float *, row), x, k); break;
            case BC_TYPE_F16: y[r] = bc__vec_dot_f16_f32_ref(BC__CAST(const uint16_t *, row), x, k); break;
            case BC_TYPE_BF16: y[r] = bc__vec_dot_bf16_f32_ref(BC__CAST(const uint16_t *, row), x, k); break;
            case BC_TYPE_Q8_0: y[r] = bc__vec_dot_q8_0_q8_0_ref(BC__CAST(const bc_block_q8_0 *, row), xq, k); break;
            case BC_TYPE_Q4_0: y[r] = bc__vec_dot_q4_0_q8_0_ref(BC__CAST(const bc_block_q4_0 *, row), xq, k); break;
            }
        }
    }
}

/* The reference matrix multiply: activations quantized to q8_0 blocks for quantized
   weights, then the _ref dot products (BC_FORCE_SCALAR runs this everywhere). scratch holds
   n_tok * (cols / 32) * 34 bytes, which bc__matmul_scratch_size covers. */
static void bc__matmul_ref(bc__pool *pool, const bc__weight *w, const float *x, int64_t n_tok, float *y,
                           void *scratch) {
    bc__matmul_task t;
    t.w = w;
    t.x = x;
    t.xq = scratch;
    t.n_tok = n_tok;
    t.y = y;
    if (w->type == BC_TYPE_Q8_0 || w->type == BC_TYPE_Q4_0) {
        int64_t tok;
        uint64_t xq_row = (uint64_t)(w->cols / BC_QK8_0) * sizeof(bc_block_q8_0);
        for (tok = 0; tok < n_tok; tok++)
            bc_quantize_row_q8_0_ref(x + tok * w->cols,
                                     BC__CAST(bc_block_q8_0 *, BC__CAST(uint8_t *, scratch) + tok * xq_row),
                                     w->cols);
    }
    bc__pool_run(pool, bc__matmul_rows_ref, &t);
}

/* --- SIMD kernels --------------------------------------------------------------
   Chosen at compile time (BC_NO_SIMD: scalar only). Quantized weights times q8_0
   activations run on unsigned x signed 8-bit multiply-adds (VNNI dpbusd, or AVX2 maddubs):
   a q4_0 nibble n is already unsigned (the value is n - 8), a q8_0 weight x becomes
   x + 128; the offsets are removed with each activation block's d * sum(q). The integer
   block sums equal the reference's exactly; only the order of the float accumulation
   differs (tests bound it). Every output is computed by one thread in a fixed order, so
   results do not depend on the thread count. */
#if !defined(BC_NO_SIMD) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define BC__AVX2 1
#include <immintrin.h>
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define BC__DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define BC__ISA_DOT "avx2+avx512vnni"
#elif defined(__AVXVNNI__)
#define BC__DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define BC__ISA_DOT "avx2+avxvnni"
#else
/* u <= 255 and s >= -128: maddubs may saturate for q8 weights, so q8 uses the sign trick */
#define BC__DPBUSD(acc, u, s) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define BC__ISA_DOT "avx2"
#define BC__NO_VNNI 1
#endif
/* 512-bit kernels over weights repacked 16 rows at a time (bc__weight_pack) */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define BC__AVX512 1
#undef BC__ISA_DOT
#define BC__ISA_DOT "avx512vnni"
/* AMX int8 tiles for prefill, where Linux grants them (asked once per process) */
#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__linux__) && !defined(BC_NO_AMX)
#define BC__AMX 1
#include <sys/syscall.h>
#if !defined(__cplusplus)
long syscall(long number, ...); /* strict C99 headers hide it; glibc's own declaration matches */
#endif
#undef BC__ISA_DOT
#define BC__ISA_DOT "avx512vnni+amx"
#endif
#endif
#endif
#if !defined(BC_NO_SIMD) && !defined(BC__AVX2) && defined(__aarch64__) && defined(__ARM_NEON)
#define BC__NEON 1
#include <arm_neon.h>
#if defined(__ARM_FEATURE_DOTPROD)
#define BC__ISA_DOT "neon+dotprod"
#else
#define BC__ISA_DOT "neon"
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BC__ALIGN64 __attribute__((aligned(64)))
#define BC__FORCE_INLINE static inline __attribute__((always_inline))
#else
#define BC__ALIGN64
#define BC__FORCE_INLINE static inline
#endif

/* Activation quantization, bit-identical to bc_quantize_row_q8_0_ref (tested): the same
   max, the same division, roundf's half-away-from-zero done exactly as trunc + carry. */
static void bc__quantize_act_row(const float *x, int64_t k, int8_t *qs, float *d, float *dsum, float *ncorr, float off) {
    int64_t b, nb = k / BC_QK8_0;
    for (b = 0; b < nb; b++) {
        const float *xb = x + b * BC_QK8_0;
        float amax = 0.0f, db, id;
        int s = 0, j;
#ifdef BC__AVX512
        __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16), v[2];
        amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
        db = amax / 127.0f;
        id = db != 0.0f ? 1.0f / db : 0.0f;
        v[0] = _mm512_mul_ps(x0, _mm512_set1_ps(id));
        v[1] = _mm512_mul_ps(x1, _mm512_set1_ps(id));
        for (j = 0; j < 2; j++) {
            __m512 t = _mm512_roundscale_ps(v[j], _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v[j], t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
            __m512 one = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)),
                                                             _mm512_and_si512(_mm512_castps_si512(v[j]), _mm512_set1_epi32((int)0x80000000u))));
            __m512i q = _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
            _mm_storeu_si128(BC__CAST(__m128i *, qs + b * BC_QK8_0 + 16 * j), _mm512_cvtepi32_epi8(q));
            s += _mm512_reduce_add_epi32(q);
        }
#else
        for (j = 0; j < BC_QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        db = amax / 127.0f;
        id = db != 0.0f ? 1.0f / db : 0.0f;
        for (j = 0; j < BC_QK8_0; j++) {
            int q = (int)roundf(xb[j] * id);
            qs[b * BC_QK8_0 + j] = (int8_t)q;
            s += q;
        }
#endif
        d[b] = bc_fp16_to_f32(bc_f32_to_fp16(db));
        dsum[b] = d[b] * (float)s;
        ncorr[b] = -off * dsum[b];
    }
}

typedef struct bc__quant_task {
    const float *x;
    float off;
    int64_t n_tok, k;
    bc__qact a;
} bc__quant_task;

static void bc__quantize_act_worker(void *arg, int ith, int nth) {
    const bc__quant_task *t = BC__CAST(const bc__quant_task *, arg);
    int64_t tok, t0 = t->n_tok * ith / nth, t1 = t->n_tok * (ith + 1) / nth;
    for (tok = t0; tok < t1; tok++)
        bc__quantize_act_row(t->x + tok * t->k, t->k, BC__CAST(int8_t *, t->a.qs) + tok * t->k,
                             BC__CAST(float *, t->a.d) + tok * t->a.nb, BC__CAST(float *, t->a.dsum) + tok * t->a.nb,
                             BC__CAST(float *, t->a.ncorr) + tok * t->a.nb, t->off);
}

static void bc__quantize_activations(bc__pool *pool, const float *x, int64_t n_tok, int64_t k, float off, void *scratch, bc__qact *a) {
    bc__quant_task t;
    t.x = x;
    t.off = off;
    t.n_tok = n_tok;
    t.k = k;
    bc__qact_layout(scratch, k, n_tok, &t.a);
    if (n_tok < 4) bc__quantize_act_worker(&t, 0, 1);
    else bc__pool_run(pool, bc__quantize_act_worker, &t);
    *a = t.a;
}

/* One row of a quantized weight in the file layout times one quantized token. */
static float bc__dot_q_row(bc_type type, const uint8_t *row, const int8_t *qs, const float *dy, const float *dsum, int64_t nb) {
    int64_t b = 0;
    float sum = 0.0f;
#if defined(BC__AVX2)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float c0 = 0.0f, c1 = 0.0f;
#ifdef BC__NO_VNNI
    const float off = type == BC_TYPE_Q4_0 ? 8.0f : 0.0f;
#else
    const float off = type == BC_TYPE_Q4_0 ? 8.0f : 128.0f;
#endif
    for (; b < nb; b++) {
        __m256i yv = _mm256_loadu_si256(BC__CAST(const __m256i *, qs + b * BC_QK8_0)), p;
        float dx;
        if (type == BC_TYPE_Q4_0) {
            const bc_block_q4_0 *xb = BC__CAST(const bc_block_q4_0 *, row) + b;
            __m128i v = _mm_loadu_si128(BC__CAST(const __m128i *, xb->qs)), m = _mm_set1_epi8(0x0f);
            dx = _cvtsh_ss(xb->d);
            p = BC__DPBUSD(_mm256_setzero_si256(), _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m)), yv);
        } else {
            const bc_block_q8_0 *xb = BC__CAST(const bc_block_q8_0 *, row) + b;
            __m256i xv = _mm256_loadu_si256(BC__CAST(const __m256i *, xb->qs));
            dx = _cvtsh_ss(xb->d);
#ifdef BC__NO_VNNI
            p = BC__DPBUSD(_mm256_setzero_si256(), _mm256_sign_epi8(xv, xv), _mm256_sign_epi8(yv, xv));
#else
            p = BC__DPBUSD(_mm256_setzero_si256(), _mm256_xor_si256(xv, _mm256_set1_epi8((char)0x80)), yv);
#endif
        }
        if (b & 1) {
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * dy[b]), acc1);
            c1 += dx * dsum[b];
        } else {
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * dy[b]), acc0);
            c0 += dx * dsum[b];
        }
    }
    {
        __m256 v = _mm256_add_ps(acc0, acc1);
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        sum = _mm_cvtss_f32(s) - off * (c0 + c1);
    }
#elif defined(BC__NEON)
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (; b < nb; b++) {
        int8x16_t y0 = vld1q_s8(qs + b * BC_QK8_0), y1 = vld1q_s8(qs + b * BC_QK8_0 + 16), w0, w1;
        int32x4_t p;
        float dx;
        if (type == BC_TYPE_Q4_0) {
            const bc_block_q4_0 *xb = BC__CAST(const bc_block_q4_0 *, row) + b;
            uint8x16_t v = vld1q_u8(xb->qs);
            w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
            w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
            dx = bc_fp16_to_f32(xb->d);
        } else {
            const bc_block_q8_0 *xb = BC__CAST(const bc_block_q8_0 *, row) + b;
            w0 = vld1q_s8(xb->qs);
            w1 = vld1q_s8(xb->qs + 16);
            dx = bc_fp16_to_f32(xb->d);
        }
#if defined(__ARM_FEATURE_DOTPROD)
        p = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, y0), w1, y1);
#else
        {
            int16x8_t a = vmull_s8(vget_low_s8(w0), vget_low_s8(y0));
            a = vmlal_s8(a, vget_high_s8(w0), vget_high_s8(y0));
            p = vpaddlq_s16(a);
            a = vmull_s8(vget_low_s8(w1), vget_low_s8(y1));
            a = vmlal_s8(a, vget_high_s8(w1), vget_high_s8(y1));
            p = vaddq_s32(p, vpaddlq_s16(a));
        }
#endif
        if (b & 1) acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(p), dx * dy[b]);
        else acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(p), dx * dy[b]);
    }
    sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    (void)dsum;
#else
    for (; b < nb; b++) {
        int isum = 0, j;
        const int8_t *y = qs + b * BC_QK8_0;
        float dx;
        if (type == BC_TYPE_Q4_0) {
            const bc_block_q4_0 *xb = BC__CAST(const bc_block_q4_0 *, row) + b;
            for (j = 0; j < BC_QK4_0 / 2; j++) isum += ((xb->qs[j] & 0x0f) - 8) * y[j] + ((xb->qs[j] >> 4) - 8) * y[j + BC_QK4_0 / 2];
            dx = bc_fp16_to_f32(xb->d);
        } else {
            const bc_block_q8_0 *xb = BC__CAST(const bc_block_q8_0 *, row) + b;
            for (j = 0; j < BC_QK8_0; j++) isum += xb->qs[j] * y[j];
            dx = bc_fp16_to_f32(xb->d);
        }
        sum += (float)isum * dx * dy[b];
    }
    (void)dsum;
#endif
    return sum;
}

/* f32 / f16 / bf16 rows times f32 activations; also the dot products attention uses. */
#ifdef BC__AVX2
static float bc__hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#define BC__F16x8(p) _mm256_cvtph_ps(_mm_loadu_si128(BC__CAST(const __m128i *, p)))
#define BC__BF16x8(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(BC__CAST(const __m128i *, p))), 16))
#endif

static float bc__vec_dot_f32(const float *x, const float *y, int64_t n) {
    int64_t i = 0;
    float s = 0.0f;
#if defined(BC__AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    s = bc__hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#elif defined(BC__NEON)
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    }
    s = vaddvq_f32(vaddq_f32(a0, a1));
#endif
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static float bc__vec_dot_f16_f32(const uint16_t *x, const float *y, int64_t n) {
    int64_t i = 0;
    float s = 0.0f;
#if defined(BC__AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(BC__F16x8(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(BC__F16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(BC__F16x8(x + i), _mm256_loadu_ps(y + i), a0);
    s = bc__hsum256(_mm256_add_ps(a0, a1));
#endif
    for (; i < n; i++) s += bc_fp16_to_f32(x[i]) * y[i];
    return s;
}

static float bc__vec_dot_bf16_f32(const uint16_t *x, const float *y, int64_t n) {
    int64_t i = 0;
    float s = 0.0f;
#if defined(BC__AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(BC__BF16x8(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(BC__BF16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(BC__BF16x8(x + i), _mm256_loadu_ps(y + i), a0);
    s = bc__hsum256(_mm256_add_ps(a0, a1));
#endif
    for (; i < n; i++) s += bc_bf16_to_f32(x[i]) * y[i];
    return s;
}

/* y[i] += a * x[i] (attention's weighted sum of values) */
static void bc__vec_mad_f32(float *y, const float *x, float a, int64_t n) {
    int64_t i = 0;
#if defined(BC__AVX2)
    __m256 av = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#elif defined(BC__NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

static void bc__vec_mad_f16(float *y, const uint16_t *x, float a, int64_t n) {
    int64_t i = 0;
#if defined(BC__AVX2)
    __m256 av = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, BC__F16x8(x + i), _mm256_loadu_ps(y + i)));
#endif
    for (; i < n; i++) y[i] += a * bc_fp16_to_f32(x[i]);
}

/* --- repacked weights -----------------------------------------------------------
   16 rows become one group; per block b of the group: the 16 fp16 scales, then the
   quants as 64-byte chunks holding 4 consecutive bytes of each of the 16 rows (row r at
   4r), so one 512-bit dpbusd yields one partial sum per row and lanes never need
   reducing. q4_0: 4 chunks of packed nibbles (low nibbles = columns 4c..4c+3, high =
   16+4c..), 288 bytes; q8_0: 8 chunks of x + 128, 544 bytes. Same size as the file's rows. */
#define BC__PACK_ROWS 16

static uint64_t bc__pack_block_bytes(bc_type type) { return type == BC_TYPE_Q4_0 ? 288 : 544; }

static int bc__weight_packable(const bc__weight *w) {
#ifdef BC__AVX512
    return (w->type == BC_TYPE_Q4_0 || w->type == BC_TYPE_Q8_0) && w->rows >= BC__PACK_ROWS && w->cols % BC_QK8_0 == 0;
#else
    (void)w;
    return 0;
#endif
}

static void bc__pack_group(const bc__weight *w, int64_t g, uint8_t *dst) {
    int64_t b, nb = w->cols / BC_QK8_0;
    uint64_t bb = bc__pack_block_bytes(w->type), sb = (uint64_t)bc_type_block_bytes(w->type);
    int r, c, i;
    for (b = 0; b < nb; b++) {
        uint8_t *o = dst + (uint64_t)b * bb;
        for (r = 0; r < BC__PACK_ROWS; r++) {
            const uint8_t *src = BC__CAST(const uint8_t *, w->data) + (uint64_t)(g * BC__PACK_ROWS + r) * w->row_bytes + (uint64_t)b * sb;
            memcpy(o + 2 * r, src, 2);
            if (w->type == BC_TYPE_Q4_0)
                for (c = 0; c < 4; c++) memcpy(o + 32 + 64 * c + 4 * r, src + 2 + 4 * c, 4);
            else
                for (c = 0; c < 8; c++)
                    for (i = 0; i < 4; i++) o[32 + 64 * c + 4 * r + i] = (uint8_t)(src[2 + 4 * c + i] ^ 0x80);
        }
    }
}

/* Repacks the whole groups of a q4_0 / q8_0 weight for the 512-bit kernels (a no-op for
   other types and builds); the last rows % 16 rows stay in the file layout. With
   release_source the file pages of the packed rows are handed back to the kernel
   (only for read-only file mappings, where they can always be paged in again). */
static bc_result bc__weight_pack(bc__weight *w, int release_source, bc_error *err) {
    int64_t g, groups;
    uint64_t bytes;
    if (w->packed || !bc__weight_packable(w)) return BC_OK;
    groups = w->rows / BC__PACK_ROWS;
    bytes = (uint64_t)groups * BC__PACK_ROWS * w->row_bytes;
    w->packed = bc__malloc(bytes);
    if (!w->packed) return bc__fail(err, BC_ERR_NOMEM, "out of memory repacking a %lld x %lld weight", (long long)w->rows, (long long)w->cols);
#if defined(BC__HAVE_MMAP) && defined(MADV_HUGEPAGE)
    {
        /* 2 MiB pages where the system offers them: decoding streams gigabytes, and
           4 KiB pages would cost a TLB miss every 4 KiB */
        uintptr_t huge = (uintptr_t)1 << 21, a = ((uintptr_t)w->packed + huge - 1) & ~(huge - 1), e = ((uintptr_t)w->packed + bytes) & ~(huge - 1);
        if (e > a) madvise(BC__CAST(void *, a), (size_t)(e - a), MADV_HUGEPAGE);
    }
#endif
    for (g = 0; g < groups; g++) bc__pack_group(w, g, BC__CAST(uint8_t *, w->packed) + (uint64_t)g * BC__PACK_ROWS * w->row_bytes);
#ifdef BC__AMX
    /* ARCH_REQ_XCOMP_PERM for XTILEDATA: process-wide, idempotent; refused on kernels or
       machines without AMX, and then the 512-bit kernels do the work */
    w->amx = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
#if defined(BC__HAVE_MMAP) && defined(MADV_DONTNEED)
    if (release_source) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)w->data, e = a + (uintptr_t)bytes;
        a = (a + page - 1) & ~(page - 1);
        e &= ~(page - 1);
        if (e > a) madvise(BC__CAST(void *, a), (size_t)(e - a), MADV_DONTNEED);
    }
#else
    (void)release_source;
#endif
    return BC_OK;
}

static void bc__weight_unpack(bc__weight *w) {
    bc__free(w->packed);
    w->packed = NULL;
    w->amx = 0;
}

#ifdef BC__AVX512
static inline int32_t bc__ld32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 16 rows (one packed group) times T <= 8 tokens: accN lane r = row r's dot with token
   N. Per block: widen the 16 scales, decode the chunks once, then per token 8 dpbusd
   (two chains) with the token's 4-byte column groups broadcast, and one fused correction
   and scale step. Written out by hand: compilers keep arrays of vectors on the stack. */
#ifndef BC__PF_BLOCKS
#define BC__PF_BLOCKS 32
#endif
#ifndef BC__PF_HINT
#define BC__PF_HINT _MM_HINT_T1
#endif
#define BC__TOK_TILE 8

/* For every token of the tile at once: s_n += chunk w times token n's 4 columns at
   column offset o. Interleaving the tokens keeps 8 independent dpbusd chains in flight. */
#define BC__X16_STEP1(n, w, o) if (T > n) s##n = _mm512_dpbusd_epi32(s##n, w, _mm512_set1_epi32(bc__ld32(y##n + (o))));
#define BC__X16_STEP(w, o) \
    BC__X16_STEP1(0, w, o) BC__X16_STEP1(1, w, o) BC__X16_STEP1(2, w, o) BC__X16_STEP1(3, w, o) \
    BC__X16_STEP1(4, w, o) BC__X16_STEP1(5, w, o) BC__X16_STEP1(6, w, o) BC__X16_STEP1(7, w, o)
/* acc_n += dw * (d_n * s_n - off * d_n * sum(q_n)) */
#define BC__X16_FINISH1(n) \
    if (T > n) acc##n = _mm512_fmadd_ps(dw, _mm512_fmadd_ps(_mm512_cvtepi32_ps(s##n), _mm512_set1_ps(a->d[ib + (n) * nb]), \
                                                            _mm512_set1_ps(a->ncorr[ib + (n) * nb])), acc##n);

BC__FORCE_INLINE void bc__x16_tile(int q8, const uint8_t *g, const bc__qact *a, int64_t tok0, int T, float *y, int64_t ldy) {
    const uint64_t bb = q8 ? 544 : 288;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
    int64_t b, nb = a->nb;
    for (b = 0; b < nb; b++) {
        const uint8_t *p = g + (uint64_t)b * bb;
        const int64_t ib = tok0 * nb + b;
        const int8_t *y0 = a->qs + tok0 * a->k + b * BC_QK8_0, *y1 = y0 + a->k, *y2 = y1 + a->k, *y3 = y2 + a->k;
        const int8_t *y4 = y3 + a->k, *y5 = y4 + a->k, *y6 = y5 + a->k, *y7 = y6 + a->k;
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(BC__CAST(const __m256i *, p)));
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        {
            /* the stream one core can pull from memory is bounded by misses in flight:
               ask for every line of a block well before it is needed */
            const char *pf = BC__CAST(const char *, p) + BC__PF_BLOCKS * bb;
            _mm_prefetch(pf, BC__PF_HINT); _mm_prefetch(pf + 64, BC__PF_HINT); _mm_prefetch(pf + 128, BC__PF_HINT);
            _mm_prefetch(pf + 192, BC__PF_HINT); _mm_prefetch(pf + 256, BC__PF_HINT);
            if (q8) {
                _mm_prefetch(pf + 320, BC__PF_HINT); _mm_prefetch(pf + 384, BC__PF_HINT);
                _mm_prefetch(pf + 448, BC__PF_HINT); _mm_prefetch(pf + 512, BC__PF_HINT);
            }
        }
        if (q8) {
            int c;
            for (c = 0; c < 8; c++) {
                __m512i w = _mm512_loadu_si512(p + 32 + 64 * c);
                BC__X16_STEP(w, 4 * c)
            }
        } else {
            int c;
            for (c = 0; c < 4; c++) {
                /* chunk c: low nibbles are columns 4c.., high nibbles 16 + 4c.. */
                __m512i z = _mm512_loadu_si512(p + 32 + 64 * c);
                __m512i lo = _mm512_and_si512(z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
                BC__X16_STEP(lo, 4 * c)
                BC__X16_STEP(hi, 16 + 4 * c)
            }
        }
        BC__X16_FINISH1(0) BC__X16_FINISH1(1) BC__X16_FINISH1(2) BC__X16_FINISH1(3)
        BC__X16_FINISH1(4) BC__X16_FINISH1(5) BC__X16_FINISH1(6) BC__X16_FINISH1(7)
    }
#define BC__X16_STORE(n) if (T > n) _mm512_storeu_ps(y + (tok0 + n) * ldy, acc##n);
    BC__X16_STORE(0) BC__X16_STORE(1) BC__X16_STORE(2) BC__X16_STORE(3)
    BC__X16_STORE(4) BC__X16_STORE(5) BC__X16_STORE(6) BC__X16_STORE(7)
#undef BC__X16_STORE
}
#undef BC__X16_STEP1
#undef BC__X16_STEP
#undef BC__X16_FINISH1

/* One instantiation per (type, token count): T is a constant inside each. */
static void bc__x16_tile_any(int q8, const uint8_t *g, const bc__qact *a, int64_t tok0, int T, float *y, int64_t ldy) {
#define BC__TILE_CASE(n) case n: if (q8) bc__x16_tile(1, g, a, tok0, n, y, ldy); else bc__x16_tile(0, g, a, tok0, n, y, ldy); break;
    switch (T) {
    BC__TILE_CASE(1) BC__TILE_CASE(2) BC__TILE_CASE(3) BC__TILE_CASE(4)
    BC__TILE_CASE(5) BC__TILE_CASE(6) BC__TILE_CASE(7) BC__TILE_CASE(8)
    default: break;
    }
#undef BC__TILE_CASE
}
#endif

#ifdef BC__AMX
/* AMX: 16 tokens x 16 rows per tile multiply, one block (32 columns) at a time since every
   block has its own scales. A = the tokens' int8 activations straight from the scratch
   (16 rows of 32 bytes, stride k); B = the block's weights in the VNNI layout the packed
   format already has (row c = 4 columns of each of the 16 rows): q8_0 chunks load as
   they are, q4_0 nibbles are split into a 512-byte buffer first; C = int32 [token][row],
   then the same fused correction and scale as the 512-bit kernel. Two C tiles alternate
   so one block's multiply runs while the previous one is scaled. */
typedef struct bc__amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} bc__amx_cfg;

static void bc__amx_begin(void) {
    bc__amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = cfg.rows[1] = 16; cfg.colsb[0] = cfg.colsb[1] = 64; /* C: 16 tokens x 16 int32 */
    cfg.rows[2] = cfg.rows[3] = 16; cfg.colsb[2] = cfg.colsb[3] = 32; /* A: 16 tokens x 32 int8 */
    cfg.rows[4] = cfg.rows[5] = 8; cfg.colsb[4] = cfg.colsb[5] = 64;  /* B: 8 x (16 rows x 4 int8) */
    _tile_loadconfig(&cfg);
}

BC__FORCE_INLINE const uint8_t *bc__amx_b(int q8, const uint8_t *p, uint8_t *buf) {
    int c;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    if (q8) return p + 32;
    for (c = 0; c < 4; c++) {
        __m512i z = _mm512_loadu_si512(p + 32 + 64 * c);
        _mm512_store_si512(buf + 64 * c, _mm512_and_si512(z, m4));
        _mm512_store_si512(buf + 256 + 64 * c, _mm512_and_si512(_mm512_srli_epi16(z, 4), m4));
    }
    return buf;
}

#define BC__AMX_FIN1(n) \
    acc##n = _mm512_fmadd_ps(dw, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cbp + 16 * (n))), _mm512_set1_ps(a->d[ib + (n) * nb]), \
                                                 _mm512_set1_ps(a->ncorr[ib + (n) * nb])), acc##n);
#define BC__AMX_FIN(bl) do { \
        const int64_t ib = tok0 * nb + (bl); \
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(BC__CAST(const __m256i *, g + (uint64_t)(bl) * bb))); \
        BC__AMX_FIN1(0) BC__AMX_FIN1(1) BC__AMX_FIN1(2) BC__AMX_FIN1(3) BC__AMX_FIN1(4) BC__AMX_FIN1(5) BC__AMX_FIN1(6) BC__AMX_FIN1(7) \
        BC__AMX_FIN1(8) BC__AMX_FIN1(9) BC__AMX_FIN1(10) BC__AMX_FIN1(11) BC__AMX_FIN1(12) BC__AMX_FIN1(13) BC__AMX_FIN1(14) BC__AMX_FIN1(15) \
    } while (0)

/* One block's multiply into C tile c (A in tile a, B in tile bt; literal tile numbers). */
#define BC__AMX_MUL(c, at, bt, bl) do { \
        _tile_loadd(bt, q8 ? g + (uint64_t)(bl) * bb + 32 : ring[(bl) & 3], 64); \
        _tile_loadd(at, act + (bl) * BC_QK8_0, a->k); \
        _tile_zero(c); \
        _tile_dpbsud(c, at, bt); \
        if (!q8 && (bl) + 4 < nb) bc__amx_b(0, g + (uint64_t)((bl) + 4) * bb, ring[(bl) & 3]); \
    } while (0)

BC__FORCE_INLINE void bc__amx_tile(int q8, const uint8_t *g, const bc__qact *a, int64_t tok0, float *y, int64_t ldy) {
    const uint64_t bb = q8 ? 544 : 288;
    int64_t b, nb = a->nb;
    const int8_t *act = a->qs + tok0 * a->k;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
    __m512 acc8 = acc0, acc9 = acc0, acc10 = acc0, acc11 = acc0, acc12 = acc0, acc13 = acc0, acc14 = acc0, acc15 = acc0;
    /* Software pipeline: neither a tile load right after the vector stores that wrote its
       data nor vector loads right after a tile store are forwarded, so q4_0 blocks are
       split into a ring of buffers four blocks ahead, and each block's C is read one
       block after it was stored. */
    BC__ALIGN64 uint8_t ring[4][512];
    BC__ALIGN64 int32_t cb[2][256];
    if (!q8)
        for (b = 0; b < 4 && b < nb; b++) bc__amx_b(0, g + (uint64_t)b * bb, ring[b]);
    BC__AMX_MUL(0, 2, 4, 0);
    for (b = 0; b < nb; b += 2) {
        /* even block b is in C0 */
        if (b + 1 < nb) BC__AMX_MUL(1, 3, 5, b + 1);
        _tile_stored(0, cb[0], 64);
        if (b > 0) { const int32_t *cbp = cb[1]; BC__AMX_FIN(b - 1); }
        if (b + 1 >= nb) { const int32_t *cbp = cb[0]; BC__AMX_FIN(b); break; }
        /* odd block b + 1 is in C1 */
        if (b + 2 < nb) BC__AMX_MUL(0, 2, 4, b + 2);
        _tile_stored(1, cb[1], 64);
        { const int32_t *cbp = cb[0]; BC__AMX_FIN(b); }
        if (b + 2 >= nb) { const int32_t *cbp = cb[1]; BC__AMX_FIN(b + 1); }
    }
#define BC__AMX_STORE(n) _mm512_storeu_ps(y + (tok0 + n) * ldy, acc##n);
    BC__AMX_STORE(0) BC__AMX_STORE(1) BC__AMX_STORE(2) BC__AMX_STORE(3) BC__AMX_STORE(4) BC__AMX_STORE(5) BC__AMX_STORE(6) BC__AMX_STORE(7)
    BC__AMX_STORE(8) BC__AMX_STORE(9) BC__AMX_STORE(10) BC__AMX_STORE(11) BC__AMX_STORE(12) BC__AMX_STORE(13) BC__AMX_STORE(14) BC__AMX_STORE(15)
#undef BC__AMX_STORE
}
#undef BC__AMX_MUL
#undef BC__AMX_FIN1
#undef BC__AMX_FIN

static void bc__amx_tile_any(int q8, const uint8_t *g, const bc__qact *a, int64_t tok0, float *y, int64_t ldy) {
    if (q8) bc__amx_tile(1, g, a, tok0, y, ldy);
    else bc__amx_tile(0, g, a, tok0, y, ldy);
}
#define BC__AMX_TOK 16
#endif

/* Work is handed out in units of BC__UNIT_ROWS output rows (all tokens): large enough
   that a unit's weights, read once from memory, serve every token from cache. */
#define BC__UNIT_ROWS 64

typedef struct bc__mm_task {
    const bc__weight *w;
    const float *x;
    bc__qact a;
    int64_t n_tok;
    float *y;
    bc__counter units;
} bc__mm_task;

/* Rows r0..r1 of every token, one row at a time, from the file layout. */
static void bc__matmul_rows(const bc__mm_task *t, int64_t r0, int64_t r1) {
    const bc__weight *w = t->w;
    int64_t tok, r, k = w->cols;
    for (tok = 0; tok < t->n_tok; tok++) {
        float *y = t->y + tok * w->rows;
        const float *x = t->x + tok * k;
        for (r = r0; r < r1; r++) {
            const uint8_t *row = BC__CAST(const uint8_t *, w->data) + (uint64_t)r * w->row_bytes;
            switch (w->type) {
            case BC_TYPE_F32: y[r] = bc__vec_dot_f32(BC__CAST(const float *, row), x, k); break;
            case BC_TYPE_F16: y[r] = bc__vec_dot_f16_f32(BC__CAST(const uint16_t *, row), x, k); break;
            case BC_TYPE_BF16: y[r] = bc__vec_dot_bf16_f32(BC__CAST(const uint16_t *, row), x, k); break;
            case BC_TYPE_Q8_0: case BC_TYPE_Q4_0:
                y[r] = bc__dot_q_row(w->type, row, t->a.qs + tok * k, t->a.d + tok * t->a.nb, t->a.dsum + tok * t->a.nb, t->a.nb);
                break;
            }
        }
    }
}

static void bc__matmul_unit(const bc__mm_task *t, int64_t r0, int64_t r1) {
#ifdef BC__AVX512
    const bc__weight *w = t->w;
    int64_t packed_rows = w->packed ? w->rows / BC__PACK_ROWS * BC__PACK_ROWS : 0;
    if (r0 < packed_rows) {
        int64_t tok0, g, g0 = r0 / BC__PACK_ROWS, g1 = (r1 < packed_rows ? r1 : packed_rows) / BC__PACK_ROWS;
        uint64_t gbytes = (uint64_t)BC__PACK_ROWS * w->row_bytes;
        tok0 = 0;
#ifdef BC__AMX
        if (w->amx)
            for (; tok0 + BC__AMX_TOK <= t->n_tok; tok0 += BC__AMX_TOK)
                for (g = g0; g < g1; g++)
                    bc__amx_tile_any(w->type == BC_TYPE_Q8_0, BC__CAST(const uint8_t *, w->packed) + (uint64_t)g * gbytes, &t->a, tok0,
                                     t->y + g * BC__PACK_ROWS, w->rows);
#endif
        for (; tok0 < t->n_tok; tok0 += BC__TOK_TILE) {
            int T = (int)(t->n_tok - tok0 < BC__TOK_TILE ? t->n_tok - tok0 : BC__TOK_TILE);
            for (g = g0; g < g1; g++)
                bc__x16_tile_any(w->type == BC_TYPE_Q8_0, BC__CAST(const uint8_t *, w->packed) + (uint64_t)g * gbytes, &t->a, tok0, T,
                                 t->y + g * BC__PACK_ROWS, w->rows);
        }
        r0 = g1 * BC__PACK_ROWS;
    }
#endif
    if (r0 < r1) bc__matmul_rows(t, r0, r1);
}

static void bc__matmul_worker(void *arg, int ith, int nth) {
    bc__mm_task *t = BC__CAST(bc__mm_task *, arg);
    int64_t n_units = (t->w->rows + BC__UNIT_ROWS - 1) / BC__UNIT_ROWS, u;
    (void)ith;
    (void)nth;
#ifdef BC__AMX
    if (t->w->amx && t->n_tok >= BC__AMX_TOK) bc__amx_begin();
#endif
    while ((u = bc__claim(&t->units)) < n_units) {
        int64_t r0 = u * BC__UNIT_ROWS, r1 = r0 + BC__UNIT_ROWS < t->w->rows ? r0 + BC__UNIT_ROWS : t->w->rows;
        bc__matmul_unit(t, r0, r1);
    }
#ifdef BC__AMX
    if (t->w->amx && t->n_tok >= BC__AMX_TOK) _tile_release();
#endif
}

/* y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tok: x is [n_tok][cols], y is [n_tok][rows].
   scratch holds bc__matmul_scratch_size(cols, n_tok) bytes. */
static void bc__matmul(bc__pool *pool, const bc__weight *w, const float *x, int64_t n_tok, float *y, void *scratch) {
#ifdef BC_FORCE_SCALAR
    bc__matmul_ref(pool, w, x, n_tok, y, scratch);
#else
    bc__mm_task t;
    memset(&t, 0, sizeof t);
    t.w = w;
    t.x = x;
    t.n_tok = n_tok;
    t.y = y;
    if (w->type == BC_TYPE_Q8_0 || w->type == BC_TYPE_Q4_0) bc__quantize_activations(pool, x, n_tok, w->cols, w->type == BC_TYPE_Q4_0 ? 8.0f : 128.0f, scratch, &t.a);
    bc__pool_run(pool, bc__matmul_worker, &t);
#endif
}

#if defined(BC_NO_THREADS)
#define BC__THREADS_INFO " single-threaded"
#else
#define BC__THREADS_INFO " pthreads"
#endif

BC_API const char *bc_build_info(void) {
#if defined(BC_FORCE_SCALAR)
    return BC_VERSION_STRING " scalar (BC_FORCE_SCALAR)" BC__THREADS_INFO;
#elif defined(BC__ISA_DOT)
    return BC_VERSION_STRING " " BC__ISA_DOT BC__THREADS_INFO;
#else
    return BC_VERSION_STRING " scalar" BC__THREADS_INFO;
#endif
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ==========================================================================
   6. Tokenizer
   ========================================================================== */

/* The tokenizer reproduces sentencepiece's BPE encoder: the identity normaliser (spaces
   escaped to U+2581, an invalid UTF-8 byte replaced by U+FFFD, optional dummy prefix and
   whitespace collapsing), user-defined symbols as frozen longest-prefix matches, merges
   of the best-scoring adjacent pair (ties: leftmost) through a heap, and byte fallback. */

#define BC__SPACE "\xe2\x96\x81" /* U+2581, sentencepiece's escaped space */

typedef struct bc__trie_node {
    int32_t child, sibling;   /* first child / next sibling, -1 for none */
    int32_t piece;            /* user-defined piece ending here, -1 for none */
    uint8_t byte;
} bc__trie_node;

struct bc_tokenizer {
    int32_t n;
    char **piece;             /* NUL-terminated, one block */
    uint32_t *len;
    float *score;
    uint8_t *type;            /* bc_piece_type */
    uint8_t *ud_plain;        /* user-defined but not <...>: allowed in BC_SPECIAL_NONE */
    int32_t *ht_normal;       /* normal, user-defined, unused pieces: merge candidates */
    int32_t *ht_reserved;     /* control, unknown, byte pieces */
    uint32_t *ht_hash;        /* [n] each piece's hash, checked before comparing bytes */
    uint32_t ht_mask;
    uint8_t ud_first[256];    /* bytes that can start a user-defined symbol */
    int32_t byte_id[256];
    bc__trie_node *trie;      /* user-defined symbols; node 0 is the root */
    int32_t n_trie;
    int32_t *special;         /* control / unknown ids, matched as literals in BC_SPECIAL_HF */
    int32_t n_special;
    int add_dummy_prefix, remove_extra_ws, byte_fallback;
    int32_t unk_id, bos_id, eos_id;
};

static uint32_t bc__hash(const char *s, uint32_t n) {
    uint32_t h = 2166136261u, i;
    for (i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t bc__ht_find(const bc_tokenizer *t, const int32_t *ht, const char *s, uint32_t n) {
    uint32_t full = bc__hash(s, n), h = full & t->ht_mask;
    while (ht[h] >= 0) {
        int32_t id = ht[h];
        if (t->ht_hash[id] == full && t->len[id] == n && memcmp(t->piece[id], s, n) == 0) return id;
        h = (h + 1) & t->ht_mask;
    }
    return -1;
}

/* sentencepiece keeps the first of duplicate pieces; so do we. */
static void bc__ht_insert(bc_tokenizer *t, int32_t *ht, int32_t id) {
    uint32_t h;
    if (bc__ht_find(t, ht, t->piece[id], t->len[id]) >= 0) return;
    h = bc__hash(t->piece[id], t->len[id]) & t->ht_mask;
    while (ht[h] >= 0) h = (h + 1) & t->ht_mask;
    ht[h] = id;
}

static int bc__trie_add(bc_tokenizer *t, int32_t id) {
    int32_t node = 0;
    uint32_t i;
    for (i = 0; i < t->len[id]; i++) {
        uint8_t b = (uint8_t)t->piece[id][i];
        int32_t c = t->trie[node].child;
        while (c >= 0 && t->trie[c].byte != b) c = t->trie[c].sibling;
        if (c < 0) {
            c = t->n_trie++;
            t->trie[c].byte = b;
            t->trie[c].child = -1;
            t->trie[c].piece = -1;
            t->trie[c].sibling = t->trie[node].child;
            t->trie[node].child = c;
        }
        node = c;
    }
    if (t->trie[node].piece < 0) t->trie[node].piece = id;
    return 1;
}

/* Angle-bracketed symbols (<reserved_106>, <SEP>) are the ones a user could type to forge
   a role turn; punctuation and whitespace pieces are harmless. */
static int bc__is_safe_user_symbol(const char *s, uint32_t n) {
    return !(n >= 3 && s[0] == '<' && s[n - 1] == '>');
}

static int bc__byte_piece_value(const char *s, uint32_t n) {
    unsigned v;
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    if (sscanf(s + 3, "%2x", &v) != 1) return -1;
    return (int)v;
}

/* Builds the tokenizer from parallel arrays (spm model or GGUF metadata). */
static bc_result bc__tokenizer_build(bc_tokenizer **out, int32_t n, const bc_str *pieces, const float *scores,
                                     const int32_t *types, int add_dummy_prefix, int remove_extra_ws,
                                     int32_t unk, int32_t bos, int32_t eos, bc_error *err) {
    bc_tokenizer *t;
    uint64_t chars = 0, cap = 1;
    int32_t i;
    char *p;
    *out = NULL;
    if (n <= 0) return bc__fail(err, BC_ERR_FORMAT, "empty vocabulary");
    for (i = 0; i < n; i++) {
        if (types[i] < 1 || types[i] > 6) return bc__fail(err, BC_ERR_FORMAT, "piece %d has unknown type %d", i, types[i]);
        if (pieces[i].len > 4096) return bc__fail(err, BC_ERR_FORMAT, "piece %d is %llu bytes long", i, (unsigned long long)pieces[i].len);
        chars += pieces[i].len + 1;
    }
    while (cap < 4 * (uint64_t)n) cap <<= 1; /* load factor <= 1/4: short probe chains */
    t = BC__CAST(bc_tokenizer *, bc__calloc(1, sizeof *t));
    if (!t) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    t->n = n;
    t->piece = BC__CAST(char **, bc__malloc(n * sizeof(char *) + chars));
    t->len = BC__CAST(uint32_t *, bc__calloc((uint64_t)n, sizeof(uint32_t)));
    t->score = BC__CAST(float *, bc__calloc((uint64_t)n, sizeof(float)));
    t->type = BC__CAST(uint8_t *, bc__calloc((uint64_t)n, 1));
    t->ud_plain = BC__CAST(uint8_t *, bc__calloc((uint64_t)n, 1));
    t->ht_normal = BC__CAST(int32_t *, bc__malloc(cap * sizeof(int32_t)));
    t->ht_reserved = BC__CAST(int32_t *, bc__malloc(cap * sizeof(int32_t)));
    t->trie = BC__CAST(bc__trie_node *, bc__calloc(chars + 1, sizeof(bc__trie_node)));
    t->special = BC__CAST(int32_t *, bc__calloc((uint64_t)n, sizeof(int32_t)));
    t->ht_hash = BC__CAST(uint32_t *, bc__calloc((uint64_t)n, sizeof(uint32_t)));
    if (!t->ht_hash || !t->piece || !t->len || !t->score || !t->type || !t->ud_plain || !t->ht_normal || !t->ht_reserved || !t->trie || !t->special) {
        bc_tokenizer_free(t);
        return bc__fail(err, BC_ERR_NOMEM, "out of memory for a %d-piece vocabulary", n);
    }
    memset(t->ht_normal, 0xff, cap * sizeof(int32_t));
    memset(t->ht_reserved, 0xff, cap * sizeof(int32_t));
    t->ht_mask = (uint32_t)(cap - 1);
    for (i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->trie[0].child = t->trie[0].sibling = t->trie[0].piece = -1;
    t->n_trie = 1;
    p = BC__CAST(char *, t->piece + n);
    for (i = 0; i < n; i++) {
        memcpy(p, pieces[i].ptr, (size_t)pieces[i].len);
        p[pieces[i].len] = 0;
        t->piece[i] = p;
        p += pieces[i].len + 1;
        t->len[i] = (uint32_t)pieces[i].len;
        t->score[i] = scores ? scores[i] : 0.0f;
        t->type[i] = (uint8_t)types[i];
        t->ht_hash[i] = bc__hash(t->piece[i], t->len[i]);
    }
    for (i = 0; i < n; i++) {
        int b;
        switch (t->type[i]) {
        case BC_PIECE_NORMAL: case BC_PIECE_UNUSED:
            bc__ht_insert(t, t->ht_normal, i);
            break;
        case BC_PIECE_USER_DEFINED:
            bc__ht_insert(t, t->ht_normal, i);
            if (t->len[i]) { bc__trie_add(t, i); t->ud_first[(uint8_t)t->piece[i][0]] = 1; }
            t->ud_plain[i] = (uint8_t)bc__is_safe_user_symbol(t->piece[i], t->len[i]);
            break;
        case BC_PIECE_BYTE:
            bc__ht_insert(t, t->ht_reserved, i);
            b = bc__byte_piece_value(t->piece[i], t->len[i]);
            if (b >= 0 && t->byte_id[b] < 0) t->byte_id[b] = i;
            break;
        default: /* control, unknown */
            bc__ht_insert(t, t->ht_reserved, i);
            if (t->len[i]) t->special[t->n_special++] = i;
            break;
        }
    }
    t->byte_fallback = 1;
    for (i = 0; i < 256; i++)
        if (t->byte_id[i] < 0) t->byte_fallback = 0;
    t->add_dummy_prefix = add_dummy_prefix;
    t->remove_extra_ws = remove_extra_ws;
    t->unk_id = unk >= 0 && unk < n ? unk : 0;
    t->bos_id = bos >= 0 && bos < n ? bos : -1;
    t->eos_id = eos >= 0 && eos < n ? eos : -1;
    *out = t;
    bc__ok(err);
    return BC_OK;
}

BC_API bc_result bc_tokenizer_from_spm(bc_tokenizer **out, const bc_spm_model *m, bc_error *err) {
    bc_str *pieces;
    int32_t i;
    bc_result r;
    if (m->model_type != 2) return bc__fail(err, BC_ERR_UNSUPPORTED, "tokenizer.model: model type %d (only BPE = 2 is supported)", m->model_type);
    if (m->normalizer_name[0] && strcmp(m->normalizer_name, "identity") != 0)
        return bc__fail(err, BC_ERR_UNSUPPORTED, "tokenizer.model: normaliser '%s' (only identity is supported)", m->normalizer_name);
    pieces = BC__CAST(bc_str *, bc__calloc((uint64_t)(m->n_pieces > 0 ? m->n_pieces : 1), sizeof(bc_str)));
    if (!pieces) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    for (i = 0; i < m->n_pieces; i++) {
        pieces[i].ptr = m->pieces[i];
        pieces[i].len = strlen(m->pieces[i]);
    }
    r = bc__tokenizer_build(out, m->n_pieces, pieces, m->scores, m->types, m->add_dummy_prefix,
                            m->remove_extra_whitespaces, m->unk_id, m->bos_id, m->eos_id, err);
    bc__free(pieces);
    return r;
}

static int32_t bc__gguf_i32_or(const bc_gguf *g, const char *key, int32_t dflt) {
    uint32_t v;
    return bc_gguf_get_u32(g, key, &v) == BC_OK && v <= INT32_MAX ? (int32_t)v : dflt;
}

BC_API bc_result bc_tokenizer_from_gguf(bc_tokenizer **out, const bc_gguf *g, bc_error *err) {
    const bc_gguf_kv *toks = bc_gguf_find_kv(g, "tokenizer.ggml.tokens");
    const bc_gguf_kv *scores = bc_gguf_find_kv(g, "tokenizer.ggml.scores");
    const bc_gguf_kv *types = bc_gguf_find_kv(g, "tokenizer.ggml.token_type");
    bc_str model;
    bc_str *pieces;
    float *sc;
    int32_t *ty, n, i;
    int dummy = 1;
    bc_result r;
    *out = NULL;
    if (bc_gguf_get_str(g, "tokenizer.ggml.model", &model) == BC_OK && !bc__str_eq(model, "llama"))
        return bc__fail(err, BC_ERR_UNSUPPORTED, "tokenizer model '%.*s' (only SentencePiece 'llama' is supported)", (int)(model.len > 32 ? 32 : model.len), model.ptr);
    if (!toks || toks->type != BC_GGUF_ARRAY || toks->elem_type != BC_GGUF_STRING || toks->n == 0 || toks->n > INT32_MAX / 4)
        return bc__fail(err, BC_ERR_FORMAT, "tokenizer.ggml.tokens missing or not an array of strings");
    n = (int32_t)toks->n;
    if (scores && (scores->type != BC_GGUF_ARRAY || scores->elem_type != BC_GGUF_FLOAT32 || scores->n != toks->n))
        return bc__fail(err, BC_ERR_FORMAT, "tokenizer.ggml.scores is not %d float32 values", n);
    if (types && (types->type != BC_GGUF_ARRAY || types->elem_type != BC_GGUF_INT32 || types->n != toks->n))
        return bc__fail(err, BC_ERR_FORMAT, "tokenizer.ggml.token_type is not %d int32 values", n);
    pieces = BC__CAST(bc_str *, bc__calloc((uint64_t)n, sizeof(bc_str)));
    sc = BC__CAST(float *, bc__calloc((uint64_t)n, sizeof(float)));
    ty = BC__CAST(int32_t *, bc__calloc((uint64_t)n, sizeof(int32_t)));
    if (!pieces || !sc || !ty) {
        bc__free(pieces); bc__free(sc); bc__free(ty);
        return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        bc_gguf_array_str(g, toks, (uint64_t)i, &pieces[i]);
        sc[i] = scores ? bc__bits_f32((uint32_t)bc__rd_le(scores->data + 4 * (uint64_t)i, 4)) : 0.0f;
        ty[i] = types ? (int32_t)bc__rd_le(types->data + 4 * (uint64_t)i, 4) : BC_PIECE_NORMAL;
    }
    (void)bc_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &dummy);
    r = bc__tokenizer_build(out, n, pieces, sc, ty, dummy, 0, bc__gguf_i32_or(g, "tokenizer.ggml.unknown_token_id", 0),
                            bc__gguf_i32_or(g, "tokenizer.ggml.bos_token_id", 1), bc__gguf_i32_or(g, "tokenizer.ggml.eos_token_id", 2), err);
    bc__free(pieces); bc__free(sc); bc__free(ty);
    return r;
}

BC_API void bc_tokenizer_free(bc_tokenizer *t) {
    if (!t) return;
    bc__free(t->piece); bc__free(t->len); bc__free(t->score); bc__free(t->type); bc__free(t->ud_plain);
    bc__free(t->ht_normal); bc__free(t->ht_reserved); bc__free(t->ht_hash); bc__free(t->trie); bc__free(t->special);
    bc__free(t);
}

BC_API int32_t bc_tokenizer_n_vocab(const bc_tokenizer *t) { return t->n; }
BC_API int32_t bc_tokenizer_bos(const bc_tokenizer *t) { return t->bos_id; }
BC_API int32_t bc_tokenizer_eos(const bc_tokenizer *t) { return t->eos_id; }

BC_API const char *bc_tokenizer_piece(const bc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n ? t->piece[id] : NULL;
}

/* Length of the valid UTF-8 character at s (n bytes left), or 0 if it is malformed. */
static int bc__utf8_len(const uint8_t *s, uint64_t n) {
    uint32_t c = s[0], cp;
    int need, i;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2;
    else if (c >= 0xf0 && c <= 0xf4) need = 3;
    else return 0;
    if ((uint64_t)need >= n) return 0;
    cp = c & (0x3f >> need);
    for (i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return need + 1;
}

/* The user-defined symbol that is the longest prefix of s, or -1. */
static int32_t bc__match_user_defined(const bc_tokenizer *t, const char *s, uint64_t n, uint32_t *mlen) {
    int32_t node = 0, best = -1;
    uint64_t i;
    if (n == 0 || !t->ud_first[(uint8_t)s[0]]) return -1;
    for (i = 0; i < n; i++) {
        int32_t c = t->trie[node].child;
        while (c >= 0 && t->trie[c].byte != (uint8_t)s[i]) c = t->trie[c].sibling;
        if (c < 0) break;
        node = c;
        if (t->trie[node].piece >= 0) { best = t->trie[node].piece; *mlen = (uint32_t)(i + 1); }
    }
    return best;
}

typedef struct bc__sym {
    uint32_t start, len;
    int32_t prev, next;
    int32_t freeze;
} bc__sym;

typedef struct bc__pair {
    float score;
    int32_t left, right;
    uint32_t size;
} bc__pair;

/* Max-heap order: higher score first, then the leftmost pair (sentencepiece's rule). */
static int bc__pair_before(const bc__pair *a, const bc__pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct bc__enc {
    const bc_tokenizer *t;
    bc_special_mode mode;
    char *norm;               /* normalised text */
    uint64_t n_norm;
    bc__sym *sym;
    bc__pair *heap;
    uint64_t n_heap;
    int32_t *out;
    int64_t cap, n_out;
} bc__enc;

static void bc__heap_push(bc__enc *e, bc__pair p) {
    uint64_t i = e->n_heap++;
    while (i > 0) {
        uint64_t parent = (i - 1) / 2;
        if (!bc__pair_before(&p, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = p;
}

static bc__pair bc__heap_pop(bc__enc *e) {
    bc__pair top = e->heap[0], last = e->heap[--e->n_heap];
    uint64_t i = 0, n = e->n_heap;
    for (;;) {
        uint64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bc__pair_before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!bc__pair_before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static int bc__mergeable(const bc__enc *e, int32_t id) {
    /* untrusted text never forms an angle-bracketed user-defined symbol */
    return !(e->mode == BC_SPECIAL_NONE && e->t->type[id] == BC_PIECE_USER_DEFINED && !e->t->ud_plain[id]);
}

static void bc__maybe_add_pair(bc__enc *e, int32_t left, int32_t right) {
    bc__pair p;
    int32_t id;
    if (left < 0 || right < 0 || e->sym[left].freeze || e->sym[right].freeze) return;
    p.size = e->sym[left].len + e->sym[right].len;
    id = bc__ht_find(e->t, e->t->ht_normal, e->norm + e->sym[left].start, p.size);
    if (id < 0 || !bc__mergeable(e, id)) return;
    p.score = e->t->score[id];
    p.left = left;
    p.right = right;
    bc__heap_push(e, p);
}

static void bc__emit(bc__enc *e, int32_t id) {
    if (e->n_out < e->cap) e->out[e->n_out] = id;
    e->n_out++;
}

/* sentencepiece's PieceToId: reserved pieces first, then the others, else unknown. */
static int32_t bc__piece_to_id(const bc_tokenizer *t, const char *s, uint32_t n) {
    int32_t id = bc__ht_find(t, t->ht_reserved, s, n);
    if (id >= 0) return id;
    id = bc__ht_find(t, t->ht_normal, s, n);
    return id >= 0 ? id : t->unk_id;
}

static void bc__emit_piece(bc__enc *e, const char *s, uint32_t n, int *prev_unk);

/* An unused piece is split back into the two pieces it was merged from (sentencepiece's
   resegmentation); it is found again by trying every split point. */
static int bc__resegment(bc__enc *e, const char *s, uint32_t n, int *prev_unk) {
    uint32_t k;
    for (k = 1; k < n; k++) {
        int32_t a = bc__ht_find(e->t, e->t->ht_normal, s, k), b = bc__ht_find(e->t, e->t->ht_normal, s + k, n - k);
        if (a >= 0 && b >= 0) {
            bc__emit_piece(e, s, k, prev_unk);
            bc__emit_piece(e, s + k, n - k, prev_unk);
            return 1;
        }
    }
    return 0;
}

static void bc__emit_piece(bc__enc *e, const char *s, uint32_t n, int *prev_unk) {
    const bc_tokenizer *t = e->t;
    int32_t id = bc__piece_to_id(t, s, n);
    uint32_t i;
    if (t->type[id] == BC_PIECE_UNUSED && bc__resegment(e, s, n, prev_unk)) return;
    if (id == t->unk_id && t->byte_fallback) {
        for (i = 0; i < n; i++) bc__emit(e, t->byte_id[(uint8_t)s[i]]);
        *prev_unk = 0;
        return;
    }
    if (id == t->unk_id) {
        if (!*prev_unk) bc__emit(e, id); /* consecutive unknowns become one */
        *prev_unk = 1;
        return;
    }
    *prev_unk = 0;
    bc__emit(e, id);
}

static void bc__norm_put(bc__enc *e, const char *s, uint64_t n) {
    memcpy(e->norm + e->n_norm, s, (size_t)n);
    e->n_norm += n;
}

/* sentencepiece's Normalizer::Normalize with the identity rule. */
static void bc__normalize(bc__enc *e, const char *text, uint64_t len) {
    const bc_tokenizer *t = e->t;
    uint64_t i = 0;
    int prev_space = t->remove_extra_ws;
    e->n_norm = 0;
    if (t->remove_extra_ws)
        while (i < len && text[i] == ' ') i++;
    if (i == len) return;
    if (t->add_dummy_prefix) bc__norm_put(e, BC__SPACE, 3);
    while (i < len) {
        uint32_t n = 0;
        /* the normaliser copies a user-defined symbol whole; that differs from going
           character by character only when whitespace is being collapsed */
        int ud = e->mode != BC_SPECIAL_NONE && t->remove_extra_ws ? bc__match_user_defined(t, text + i, len - i, &n) : -1;
        const char *sp = text + i;
        uint64_t k, consumed;
        if (ud < 0) {
            n = (uint32_t)bc__utf8_len(BC__CAST(const uint8_t *, text + i), len - i);
            if (n == 0) { sp = "\xef\xbf\xbd"; consumed = 1; n = 3; }
            else consumed = n;
        } else {
            consumed = n;
        }
        if (prev_space) while (n && *sp == ' ') { sp++; n--; }
        for (k = 0; k < n; k++) {
            if (sp[k] == ' ') bc__norm_put(e, BC__SPACE, 3);
            else bc__norm_put(e, sp + k, 1);
        }
        if (n) prev_space = sp[n - 1] == ' ';
        if (!t->remove_extra_ws) prev_space = 0;
        i += consumed;
    }
    if (t->remove_extra_ws)
        while (e->n_norm >= 3 && memcmp(e->norm + e->n_norm - 3, BC__SPACE, 3) == 0) e->n_norm -= 3;
}

static void bc__encode_segment(bc__enc *e, const char *text, uint64_t len) {
    const bc_tokenizer *t = e->t;
    uint64_t pos = 0, n_sym = 0, i;
    int prev_unk = 0;
    int32_t s;
    bc__normalize(e, text, len);
    while (pos < e->n_norm) {
        uint32_t mlen = 0;
        int32_t ud = bc__match_user_defined(t, e->norm + pos, e->n_norm - pos, &mlen);
        bc__sym *sy = &e->sym[n_sym];
        if (ud >= 0 && e->mode == BC_SPECIAL_NONE && !t->ud_plain[ud]) ud = -1;
        if (ud >= 0) {
            sy->freeze = 1;
        } else {
            static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
            mlen = lens[(uint8_t)e->norm[pos] >> 4];
            if (mlen > e->n_norm - pos) mlen = (uint32_t)(e->n_norm - pos);
            sy->freeze = 0;
        }
        sy->start = (uint32_t)pos;
        sy->len = mlen;
        sy->prev = (int32_t)n_sym - 1;
        pos += mlen;
        sy->next = pos < e->n_norm ? (int32_t)n_sym + 1 : -1;
        n_sym++;
    }
    if (n_sym == 0) return;
    /* frozen symbols never merge, so each run between them is merged on its own: the heap
       stays small and hot in cache however long the text */
    for (i = 0; i < n_sym;) {
        uint64_t run_end = i, k;
        while (run_end < n_sym && !e->sym[run_end].freeze) run_end++;
        e->n_heap = 0;
        for (k = i + 1; k < run_end; k++) bc__maybe_add_pair(e, (int32_t)k - 1, (int32_t)k);
        while (e->n_heap) {
            bc__pair top = bc__heap_pop(e);
            bc__sym *l = &e->sym[top.left], *r = &e->sym[top.right];
            if (l->len == 0 || r->len == 0 || l->len + r->len != top.size || l->next != top.right) continue;
            l->len += r->len;
            l->next = r->next;
            if (r->next >= 0) e->sym[r->next].prev = top.left;
            r->len = 0;
            bc__maybe_add_pair(e, l->prev, top.left);
            bc__maybe_add_pair(e, top.left, l->next);
        }
        i = run_end + 1;
    }
    for (s = 0; s >= 0; s = e->sym[s].next) bc__emit_piece(e, e->norm + e->sym[s].start, e->sym[s].len, &prev_unk);
}

/* The control/unknown literal (e.g. "</s>") at text, as Hugging Face's trie splits it. */
static int32_t bc__match_special(const bc_tokenizer *t, const char *s, uint64_t n, uint32_t *mlen) {
    int32_t i, best = -1;
    for (i = 0; i < t->n_special; i++) {
        int32_t id = t->special[i];
        if (t->len[id] <= n && (best < 0 || t->len[id] > t->len[best]) && memcmp(s, t->piece[id], t->len[id]) == 0) best = id;
    }
    if (best >= 0) *mlen = t->len[best];
    return best;
}

BC_API int64_t bc_tokenizer_encode(const bc_tokenizer *t, const char *text, uint64_t len, bc_special_mode mode,
                                   int32_t *ids, int64_t cap, bc_error *err) {
    bc__enc e;
    uint64_t norm_cap, start = 0, i;
    if (!t || (!text && len) || cap < 0 || (cap && !ids)) return bc__fail(err, BC_ERR_INVALID, "invalid arguments to bc_tokenizer_encode");
    if ((int)mode < 0 || (int)mode > 2) return bc__fail(err, BC_ERR_INVALID, "unknown special-token mode %d", (int)mode);
    if (len > ((uint64_t)1 << 32) / 4) return bc__fail(err, BC_ERR_RANGE, "text of %llu bytes is too long to encode at once", (unsigned long long)len);
    memset(&e, 0, sizeof e);
    e.t = t;
    e.mode = mode;
    e.out = ids;
    e.cap = cap;
    norm_cap = 3 * len + 3;
    e.norm = BC__CAST(char *, bc__malloc(norm_cap));
    e.sym = BC__CAST(bc__sym *, bc__calloc(norm_cap, sizeof(bc__sym)));
    e.heap = BC__CAST(bc__pair *, bc__calloc(3 * norm_cap + 1, sizeof(bc__pair)));
    if (!e.norm || !e.sym || !e.heap) {
        bc__free(e.norm); bc__free(e.sym); bc__free(e.heap);
        return bc__fail(err, BC_ERR_NOMEM, "out of memory encoding %llu bytes", (unsigned long long)len);
    }
    if (mode == BC_SPECIAL_HF) {
        for (i = 0; i < len;) {
            uint32_t m = 0;
            int32_t id = bc__match_special(t, text + i, len - i, &m);
            if (id < 0) { i++; continue; }
            if (i > start) bc__encode_segment(&e, text + start, i - start);
            bc__emit(&e, id);
            i += m;
            start = i;
        }
    }
    if (len > start) bc__encode_segment(&e, text + start, len - start);
    bc__free(e.norm); bc__free(e.sym); bc__free(e.heap);
    bc__ok(err);
    return e.n_out;
}

/* The bytes token id stands for, before the dummy-prefix rule: byte pieces are raw
   bytes, U+2581 is a space, control tokens are nothing. */
static int bc__token_bytes(const bc_tokenizer *t, int32_t id, char *buf, int cap) {
    const char *s = t->piece[id];
    uint32_t n = t->len[id], i;
    int k = 0, b;
    switch (t->type[id]) {
    case BC_PIECE_CONTROL: return 0;
    case BC_PIECE_BYTE:
        b = bc__byte_piece_value(s, n);
        if (b < 0) return 0;
        if (cap > 0) buf[0] = (char)b;
        return 1;
    case BC_PIECE_UNKNOWN:
        s = " \xe2\x81\x87 ";
        n = 5;
        break;
    }
    for (i = 0; i < n; i++) {
        if (i + 3 <= n && memcmp(s + i, BC__SPACE, 3) == 0) {
            if (k < cap) buf[k] = ' ';
            k++;
            i += 2;
        } else {
            if (k < cap) buf[k] = s[i];
            k++;
        }
    }
    return k;
}

BC_API int64_t bc_tokenizer_decode(const bc_tokenizer *t, const int32_t *ids, int64_t n, char *out, int64_t cap,
                                   bc_error *err) {
    int64_t i, k = 0;
    int at_start = 1;
    char tmp[4200];
    if (!t || n < 0 || (n && !ids) || cap < 0 || (cap && !out)) return bc__fail(err, BC_ERR_INVALID, "invalid arguments to bc_tokenizer_decode");
    for (i = 0; i < n; i++) {
        int m, skip = 0, j;
        if (ids[i] < 0 || ids[i] >= t->n) return bc__fail(err, BC_ERR_RANGE, "token id %d out of range [0, %d)", ids[i], t->n);
        m = bc__token_bytes(t, ids[i], tmp, (int)sizeof tmp);
        if (m == 0) continue;
        if (at_start && (t->add_dummy_prefix || t->remove_extra_ws) && tmp[0] == ' ' && t->type[ids[i]] != BC_PIECE_BYTE) skip = 1;
        at_start = 0;
        for (j = skip; j < m; j++) {
            if (k < cap) out[k] = tmp[j];
            k++;
        }
    }
    bc__ok(err);
    return k;
}

BC_API void bc_detokenizer_init(bc_detokenizer *d, const bc_tokenizer *t) {
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->at_start = 1;
}

/* Moves the complete characters of pending to out; a byte that cannot start or continue
   a valid character becomes U+FFFD. */
static int bc__detok_drain(bc_detokenizer *d, char *out, int cap, int final) {
    int k = 0;
    while (d->n_pending > 0) {
        int m = bc__utf8_len(d->pending, (uint64_t)d->n_pending), j;
        if (m == 0) {
            /* incomplete but still possibly valid: wait for more bytes */
            uint8_t c = d->pending[0];
            int need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2, ok = (c >= 0xc2 && c <= 0xf4), i;
            for (i = 1; ok && i < d->n_pending; i++) ok = (d->pending[i] & 0xc0) == 0x80;
            if (ok && d->n_pending < need && !final) break;
            if (k + 3 > cap) return -1;
            memcpy(out + k, "\xef\xbf\xbd", 3);
            k += 3;
            m = 1;
        } else {
            if (k + m > cap) return -1;
            memcpy(out + k, d->pending, (size_t)m);
            k += m;
        }
        for (j = m; j < d->n_pending; j++) d->pending[j - m] = d->pending[j];
        d->n_pending -= m;
    }
    return k;
}

BC_API int bc_detokenizer_push(bc_detokenizer *d, int32_t id, char *out, int cap) {
    char tmp[4200];
    int m, i, k = 0, skip = 0;
    const bc_tokenizer *t = d->tok;
    if (!t || id < 0 || id >= t->n) return BC_ERR_RANGE;
    m = bc__token_bytes(t, id, tmp, (int)sizeof tmp);
    if (m == 0) return 0;
    if (d->at_start && (t->add_dummy_prefix || t->remove_extra_ws) && tmp[0] == ' ' && t->type[id] != BC_PIECE_BYTE) skip = 1;
    d->at_start = 0;
    for (i = skip; i < m; i++) {
        int r;
        if (d->n_pending == (int)sizeof d->pending) {
            r = bc__detok_drain(d, out + k, cap - k, 1);
            if (r < 0) return BC_ERR_RANGE;
            k += r;
        }
        d->pending[d->n_pending++] = (unsigned char)tmp[i];
        r = bc__detok_drain(d, out + k, cap - k, 0);
        if (r < 0) return BC_ERR_RANGE;
        k += r;
    }
    return k;
}

BC_API int bc_detokenizer_flush(bc_detokenizer *d, char *out, int cap) {
    int r = bc__detok_drain(d, out, cap, 1);
    return r < 0 ? BC_ERR_RANGE : r;
}


/* ==========================================================================
   7. Model
   ========================================================================== */

typedef struct bc__layer {
    const float *attn_norm;   /* [n_embd] */
    bc__weight wq, wk, wv;    /* [n_embd][n_embd]; q and k rows permuted for interleaved RoPE */
    bc__weight wo;            /* [n_embd][n_embd] */
    const float *ffn_norm;    /* [n_embd] */
    bc__weight gate, up;      /* [n_ff][n_embd] */
    bc__weight down;          /* [n_embd][n_ff] */
} bc__layer;

struct bc_model {
    bc_gguf gguf;
    bc_hparams hp;
    bc_tokenizer *tok;
    bc__weight tok_embd;      /* [n_vocab][n_embd] */
    bc__layer *layers;        /* [n_layer] */
    const float *output_norm; /* [n_embd] */
    bc__weight output;        /* [n_vocab][n_embd], rows unit-norm unless out_scale says otherwise */
    float *out_scale;         /* [n_vocab] 1/||row|| for files whose head is not normalised, else NULL */
    float *alibi_slopes;      /* [n_head] for ALiBi models */
    float *inv_freq;          /* [head_dim/2] for RoPE models */
};

BC_API bc_model_params bc_model_default_params(void) {
    bc_model_params p;
    memset(&p, 0, sizeof p);
    p.use_mmap = 1;
    return p;
}

/* The official _get_interleave: slopes for any head count. */
static void bc__alibi_slopes(int n, float *out) {
    int p2 = 1, i;
    while (p2 * 2 <= n) p2 *= 2;
    for (i = 0; i < p2; i++) out[i] = (float)pow(2.0, -8.0 / p2 * (i + 1));
    for (i = p2; i < n; i++) out[i] = (float)pow(2.0, -8.0 / (2 * p2) * (2 * (i - p2) + 1));
}

static bc_result bc__model_weight(bc_model *m, const char *name, int64_t cols, int64_t rows, bc__weight *w, bc_error *err) {
    const bc_gguf_tensor *t = bc_gguf_find_tensor(&m->gguf, name);
    if (!t) return bc__fail(err, BC_ERR_SHAPE, "model file has no tensor '%s'", name);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return bc__fail(err, BC_ERR_SHAPE, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0],
                        (long long)(t->n_dims > 1 ? t->ne[1] : 1), (long long)cols, (long long)rows);
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = bc_tensor_nbytes(t->type, cols);
    w->data = t->data;
    return BC_OK;
}

static bc_result bc__model_norm(bc_model *m, const char *name, const float **out, bc_error *err) {
    const bc_gguf_tensor *t = bc_gguf_find_tensor(&m->gguf, name);
    if (!t) return bc__fail(err, BC_ERR_SHAPE, "model file has no tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != m->hp.n_embd || t->type != BC_TYPE_F32)
        return bc__fail(err, BC_ERR_SHAPE, "tensor '%s' must be f32 [%d]", name, m->hp.n_embd);
    if (((uintptr_t)t->data & 3) != 0) return bc__fail(err, BC_ERR_FORMAT, "tensor '%s' is misaligned", name);
    *out = BC__CAST(const float *, t->data);
    return BC_OK;
}

static bc_result bc__model_hparams(bc_model *m, bc_error *err) {
    const bc_gguf *g = &m->gguf;
    bc_hparams *hp = &m->hp;
    bc_str s;
    uint32_t v;
    const bc_gguf_kv *toks = bc_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (bc_gguf_get_str(g, "general.architecture", &s) != BC_OK) return bc__fail(err, BC_ERR_FORMAT, "no general.architecture: not a model file");
    if (!bc__str_eq(s, "baichuan"))
        return bc__fail(err, BC_ERR_UNSUPPORTED, "architecture '%.*s' is not baichuan", (int)(s.len > 32 ? 32 : s.len), s.ptr);
#define BC__HP(key, field, lo, hi) do { \
        if (bc_gguf_get_u32(g, key, &v) != BC_OK || v < (lo) || v > (hi)) return bc__fail(err, BC_ERR_FORMAT, "missing or bad %s", key); \
        hp->field = (int32_t)v; \
    } while (0)
    BC__HP("baichuan.embedding_length", n_embd, 1, 1 << 16);
    BC__HP("baichuan.block_count", n_layer, 1, 1024);
    BC__HP("baichuan.feed_forward_length", n_ff, 1, 1 << 18);
    BC__HP("baichuan.attention.head_count", n_head, 1, 1024);
    BC__HP("baichuan.context_length", n_ctx_train, 1, 1 << 24);
#undef BC__HP
    if (hp->n_embd % hp->n_head != 0 || (hp->n_embd / hp->n_head) % 2 != 0)
        return bc__fail(err, BC_ERR_FORMAT, "embedding length %d is not an even multiple of %d heads", hp->n_embd, hp->n_head);
    if (bc_gguf_get_u32(g, "baichuan.attention.head_count_kv", &v) == BC_OK && (int32_t)v != hp->n_head)
        return bc__fail(err, BC_ERR_UNSUPPORTED, "grouped-query attention (%u kv heads) is not Baichuan", v);
    if (bc_gguf_get_f32(g, "baichuan.attention.layer_norm_rms_epsilon", &hp->norm_eps) != BC_OK) hp->norm_eps = 1e-6f;
    if (bc_gguf_get_f32(g, "baichuan.rope.freq_base", &hp->rope_base) != BC_OK) hp->rope_base = 10000.0f;
    if (bc_gguf_get_str(g, "baichuan.position_encoding", &s) == BC_OK) {
        if (bc__str_eq(s, "rope")) hp->pos_encoding = BC_POS_ROPE;
        else if (bc__str_eq(s, "alibi")) hp->pos_encoding = BC_POS_ALIBI;
        else return bc__fail(err, BC_ERR_UNSUPPORTED, "position encoding '%.*s'", (int)(s.len > 32 ? 32 : s.len), s.ptr);
    } else {
        hp->pos_encoding = hp->n_layer == 40 ? BC_POS_ALIBI : BC_POS_ROPE; /* llama.cpp's rule for files without the key */
    }
    if (!toks || toks->n == 0 || toks->n > (1u << 24)) return bc__fail(err, BC_ERR_FORMAT, "no vocabulary (tokenizer.ggml.tokens)");
    hp->n_vocab = (int32_t)toks->n;
    hp->bos_id = bc__gguf_i32_or(g, "tokenizer.ggml.bos_token_id", 1);
    hp->eos_id = bc__gguf_i32_or(g, "tokenizer.ggml.eos_token_id", 2);
    hp->pad_id = bc__gguf_i32_or(g, "tokenizer.ggml.padding_token_id", 0);
    hp->user_token_id = bc__gguf_i32_or(g, "baichuan.chat.user_token_id", -1);
    hp->assistant_token_id = bc__gguf_i32_or(g, "baichuan.chat.assistant_token_id", -1);
    return BC_OK;
}

/* NormHead for files that did not normalise the head (llama.cpp's converter): scale each
   logit by 1/||row|| instead of copying the weights. */
static bc_result bc__model_norm_head(bc_model *m, bc_error *err) {
    int normalized = 0;
    int64_t r, i, n = m->hp.n_embd;
    float *row;
    if (bc_gguf_get_bool(&m->gguf, "baichuan.output_normalized", &normalized) == BC_OK) return BC_OK;
    if (m->hp.n_vocab == 64000) return BC_OK; /* Baichuan 1 has a plain head */
    row = BC__CAST(float *, bc__malloc((uint64_t)n * sizeof(float)));
    m->out_scale = BC__CAST(float *, bc__malloc((uint64_t)m->hp.n_vocab * sizeof(float)));
    if (!row || !m->out_scale) { bc__free(row); return bc__fail(err, BC_ERR_NOMEM, "out of memory"); }
    for (r = 0; r < m->hp.n_vocab; r++) {
        double s = 0.0;
        bc_dequantize_row(m->output.type, BC__CAST(const uint8_t *, m->output.data) + (uint64_t)r * m->output.row_bytes, row, n);
        for (i = 0; i < n; i++) s += (double)row[i] * row[i];
        s = sqrt(s);
        m->out_scale[r] = (float)(1.0 / (s > 1e-12 ? s : 1e-12));
    }
    bc__free(row);
    return BC_OK;
}

/* Matrix weights repacked for the SIMD kernels where the build has them (section 5);
   the mapped file pages of packed rows are released, so memory stays at one copy. */
/* Repacking costs a second copy of the weights unless the source pages can be handed back,
   which only a file mapping allows: models read into memory or given as a caller's buffer
   (BC_NO_MMAP, microcontroller builds) keep the file layout and the row kernels, so their
   memory stays one copy. */
static bc_result bc__model_pack_weights(bc_model *m, bc_error *err) {
    int l, release = m->gguf.owned_kind_ == 2;
    bc_result r;
    if (!release) return BC_OK;
    r = bc__weight_pack(&m->output, release, err);
    for (l = 0; r == BC_OK && l < m->hp.n_layer; l++) {
        bc__layer *L = &m->layers[l];
        bc__weight *ws[7];
        int i;
        ws[0] = &L->wq; ws[1] = &L->wk; ws[2] = &L->wv; ws[3] = &L->wo; ws[4] = &L->gate; ws[5] = &L->up; ws[6] = &L->down;
        for (i = 0; r == BC_OK && i < 7; i++) r = bc__weight_pack(ws[i], release, err);
    }
    return r;
}

static void bc__model_unpack_weights(bc_model *m) {
    int l;
    bc__weight_unpack(&m->output);
    for (l = 0; m->layers && l < m->hp.n_layer; l++) {
        bc__layer *L = &m->layers[l];
        bc__weight_unpack(&L->wq); bc__weight_unpack(&L->wk); bc__weight_unpack(&L->wv); bc__weight_unpack(&L->wo);
        bc__weight_unpack(&L->gate); bc__weight_unpack(&L->up); bc__weight_unpack(&L->down);
    }
}

static bc_result bc__model_tensors(bc_model *m, bc_error *err) {
    const bc_hparams *hp = &m->hp;
    char name[96];
    int l, i;
    bc_result r;
    int hd = hp->n_embd / hp->n_head;
    if ((r = bc__model_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err)) != BC_OK) return r;
    if ((r = bc__model_norm(m, "output_norm.weight", &m->output_norm, err)) != BC_OK) return r;
    if ((r = bc__model_weight(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err)) != BC_OK) return r;
    m->layers = BC__CAST(bc__layer *, bc__calloc((uint64_t)hp->n_layer, sizeof(bc__layer)));
    if (!m->layers) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    for (l = 0; l < hp->n_layer; l++) {
        bc__layer *L = &m->layers[l];
#define BC__W(suffix, cols, rows, dst) do { snprintf(name, sizeof name, "blk.%d." suffix, l); \
        if ((r = bc__model_weight(m, name, cols, rows, dst, err)) != BC_OK) return r; } while (0)
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if ((r = bc__model_norm(m, name, &L->attn_norm, err)) != BC_OK) return r;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if ((r = bc__model_norm(m, name, &L->ffn_norm, err)) != BC_OK) return r;
        BC__W("attn_q.weight", hp->n_embd, hp->n_embd, &L->wq);
        BC__W("attn_k.weight", hp->n_embd, hp->n_embd, &L->wk);
        BC__W("attn_v.weight", hp->n_embd, hp->n_embd, &L->wv);
        BC__W("attn_output.weight", hp->n_embd, hp->n_embd, &L->wo);
        BC__W("ffn_gate.weight", hp->n_embd, hp->n_ff, &L->gate);
        BC__W("ffn_up.weight", hp->n_embd, hp->n_ff, &L->up);
        BC__W("ffn_down.weight", hp->n_ff, hp->n_embd, &L->down);
#undef BC__W
    }
    if ((r = bc__model_pack_weights(m, err)) != BC_OK) return r;
    m->alibi_slopes = BC__CAST(float *, bc__calloc((uint64_t)hp->n_head, sizeof(float)));
    m->inv_freq = BC__CAST(float *, bc__calloc((uint64_t)hd / 2, sizeof(float)));
    if (!m->alibi_slopes || !m->inv_freq) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    bc__alibi_slopes(hp->n_head, m->alibi_slopes);
    /* inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), all float32 */
    for (i = 0; i < hd / 2; i++) m->inv_freq[i] = 1.0f / powf(hp->rope_base, (float)(2 * i) / (float)hd);
    return bc__model_norm_head(m, err);
}

BC_API bc_result bc_model_load(bc_model **out, const char *path, const bc_model_params *p, bc_error *err) {
    bc_model *m;
    bc_result r;
    bc_model_params dp = bc_model_default_params();
    if (!out) return bc__fail(err, BC_ERR_INVALID, "NULL output pointer");
    *out = NULL;
    if (!p) p = &dp;
    m = BC__CAST(bc_model *, bc__calloc(1, sizeof *m));
    if (!m) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    if (p->buffer) r = bc_gguf_open_buffer(&m->gguf, p->buffer, p->buffer_size, err);
#ifndef BC_NO_STDIO
    else if (path) {
        bc__file_data fd;
        r = bc__read_whole_file(&fd, path, p->use_mmap, err);
        if (r == BC_OK) {
            r = bc_gguf_open_buffer(&m->gguf, fd.data, fd.size, err);
            if (r == BC_OK) {
                m->gguf.owned_ = fd.owned;
                m->gguf.owned_size_ = fd.size;
                m->gguf.owned_kind_ = fd.kind;
            } else {
                bc__release_file(&fd);
            }
        }
    }
#endif
    else r = bc__fail(err, BC_ERR_INVALID, "no model path or buffer");
    if (r == BC_OK) r = bc__model_hparams(m, err);
    if (r == BC_OK) r = bc_tokenizer_from_gguf(&m->tok, &m->gguf, err);
    if (r == BC_OK && bc_tokenizer_n_vocab(m->tok) != m->hp.n_vocab) r = bc__fail(err, BC_ERR_FORMAT, "vocabulary size mismatch");
    if (r == BC_OK) r = bc__model_tensors(m, err);
    if (r != BC_OK) {
        if (path && err && err->message[0]) {
            char msg[sizeof err->message];
            memcpy(msg, err->message, sizeof msg);
            snprintf(err->message, sizeof err->message, "%.80s: %.170s", path, msg);
        }
        bc_model_free(m);
        return r;
    }
    *out = m;
    bc__ok(err);
    return BC_OK;
}

BC_API void bc_model_free(bc_model *m) {
    if (!m) return;
    bc_tokenizer_free(m->tok);
    bc__model_unpack_weights(m);
    bc__free(m->layers);
    bc__free(m->out_scale);
    bc__free(m->alibi_slopes);
    bc__free(m->inv_freq);
    bc_gguf_close(&m->gguf);
    bc__free(m);
}

BC_API const bc_hparams *bc_model_hparams(const bc_model *m) { return &m->hp; }
BC_API const bc_tokenizer *bc_model_tokenizer(const bc_model *m) { return m->tok; }

BC_API bc_result bc_model_tensor(const bc_model *m, const char *name, bc_tensor_view *out) {
    const bc_gguf_tensor *t = bc_gguf_find_tensor(&m->gguf, name);
    if (!t) return BC_ERR_SHAPE;
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->nbytes = t->nbytes;
    out->data = t->data;
    return BC_OK;
}

/* --- context: KV cache and scratch, allocated once --------------------------- */

#define BC__ATT_QB 8              /* query tokens per attention step */

struct bc_context {
    const bc_model *m;
    int32_t n_ctx, n_batch, n_past, n_threads;
    int kv_f16;
    bc__pool *pool;
    void *k_cache, *v_cache;  /* [n_layer][n_ctx][n_embd], f32 or f16 */
    float *x, *xb, *q, *k, *v, *att_out, *ffn_a, *ffn_b; /* [n_batch][width] */
    float *scores;            /* [n_threads][BC__ATT_QB][n_ctx] */
    float *rope_cs;           /* [n_batch][head_dim]: cos, sin pairs of each position in the chunk */
    float *logits;            /* [n_vocab], the last position */
    int32_t *ids;             /* [n_ctx]: the tokens in the cache, the repetition penalty's history */
    void *mm_scratch;
#ifdef BC_CUDA
    bc_cuda_model *gpu;
#endif
};

BC_API bc_context_params bc_context_default_params(void) {
    bc_context_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static int bc__cpu_count(void) {
#if defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
#else
    return 1;
#endif
}

BC_API bc_result bc_context_create(bc_context **out, const bc_model *m, const bc_context_params *p, bc_error *err) {
    bc_context *c;
    bc_context_params dp = bc_context_default_params();
    const bc_hparams *hp;
    uint64_t kv, e, ffn, bat, scr;
    if (!out || !m) return bc__fail(err, BC_ERR_INVALID, "NULL argument");
    *out = NULL;
    if (!p) p = &dp;
    hp = &m->hp;
    if (p->n_ctx < 0 || p->n_batch < 0 || p->n_threads < 0) return bc__fail(err, BC_ERR_INVALID, "negative context parameter");
    c = BC__CAST(bc_context *, bc__calloc(1, sizeof *c));
    if (!c) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = p->n_ctx ? p->n_ctx : hp->n_ctx_train;
    c->n_batch = p->n_batch ? p->n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    c->n_threads = p->n_threads ? p->n_threads : bc__cpu_count();
    c->kv_f16 = p->kv_f16;
    e = (uint64_t)hp->n_embd;
    ffn = (uint64_t)hp->n_ff;
    bat = (uint64_t)c->n_batch;
    kv = (uint64_t)hp->n_layer * (uint64_t)c->n_ctx * e;
    scr = bc__matmul_scratch_size(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd, c->n_batch);
    c->pool = bc__pool_create(c->n_threads);
    c->k_cache = bc__malloc(kv * (c->kv_f16 ? 2 : 4));
    c->v_cache = bc__malloc(kv * (c->kv_f16 ? 2 : 4));
    c->x = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->xb = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->q = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->k = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->v = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->att_out = BC__CAST(float *, bc__malloc(bat * e * 4));
    c->ffn_a = BC__CAST(float *, bc__malloc(bat * ffn * 4));
    c->ffn_b = BC__CAST(float *, bc__malloc(bat * ffn * 4));
    c->scores = BC__CAST(float *, bc__malloc((uint64_t)c->n_threads * BC__ATT_QB * (uint64_t)c->n_ctx * 4));
    c->logits = BC__CAST(float *, bc__malloc((uint64_t)hp->n_vocab * 4));
    c->mm_scratch = bc__malloc(scr);
    c->ids = BC__CAST(int32_t *, bc__malloc((uint64_t)c->n_ctx * 4));
    c->rope_cs = BC__CAST(float *, bc__malloc(bat * (uint64_t)(hp->n_embd / hp->n_head) * 4));
    if (!c->rope_cs || !c->pool || !c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att_out || !c->ffn_a ||
        !c->ffn_b || !c->scores || !c->logits || !c->mm_scratch || !c->ids) {
        bc_context_free(c);
        return bc__fail(err, BC_ERR_NOMEM, "out of memory for a %d-token context (KV cache %.1f MiB)", (int)(p->n_ctx ? p->n_ctx : hp->n_ctx_train),
                        (double)(2 * kv * (p->kv_f16 ? 2 : 4)) / 1048576.0);
    }
    memset(c->logits, 0, (size_t)hp->n_vocab * 4);
#ifdef BC_CUDA
    if (p->n_gpu_layers != 0) {
        bc_result r = bc_cuda_model_create(&c->gpu, m, c->n_ctx, err);
        if (r != BC_OK) { bc_context_free(c); return r; }
    }
#endif
    *out = c;
    bc__ok(err);
    return BC_OK;
}

BC_API void bc_context_free(bc_context *c) {
    if (!c) return;
#ifdef BC_CUDA
    if (c->gpu) bc_cuda_model_free(c->gpu);
#endif
    bc__pool_free(c->pool);
    bc__free(c->k_cache); bc__free(c->v_cache);
    bc__free(c->x); bc__free(c->xb); bc__free(c->q); bc__free(c->k); bc__free(c->v); bc__free(c->att_out);
    bc__free(c->ffn_a); bc__free(c->ffn_b); bc__free(c->scores); bc__free(c->logits); bc__free(c->mm_scratch); bc__free(c->ids);
    bc__free(c->rope_cs);
    bc__free(c);
}

BC_API const float *bc_context_logits(const bc_context *c) { return c->logits; }
BC_API int32_t bc_context_n_past(const bc_context *c) { return c->n_past; }
BC_API int32_t bc_context_n_ctx(const bc_context *c) { return c->n_ctx; }

BC_API bc_result bc_context_rewind(bc_context *c, int32_t n_past) {
    if (n_past < 0 || n_past > c->n_past) return BC_ERR_RANGE;
    c->n_past = n_past;
    return BC_OK;
}

/* --- forward pass -------------------------------------------------------------- */

/* RMSNorm: x * rsqrt(mean(x^2) + eps) * w, the variance in float32 (accumulated wider). */
static void bc__rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    int64_t i;
    float scale;
    for (i = 0; i < n; i++) ss += (double)x[i] * x[i];
    scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) out[i] = w[i] * (x[i] * scale);
}

/* cos and sin of pos * inv_freq[i] (angle in float32, like the official cos_cached),
   computed once per position and shared by every head and layer. */
static void bc__rope_angles(float *cs, int hd, int32_t pos, const float *inv_freq) {
    int i;
    for (i = 0; i < hd / 2; i++) {
        float angle = (float)pos * inv_freq[i];
        cs[2 * i] = cosf(angle);
        cs[2 * i + 1] = sinf(angle);
    }
}

/* Rotary embedding on one head laid out in interleaved pairs (the converter permuted HF's
   rotate-half rows into this order, as llama.cpp does). */
static void bc__rope_head(float *x, int hd, const float *cs) {
    int i;
    for (i = 0; i < hd / 2; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

static void bc__kv_store(const bc_context *c, void *cache, int64_t off, const float *src, int64_t n) {
    int64_t i;
    if (c->kv_f16) {
        uint16_t *d = BC__CAST(uint16_t *, cache) + off;
        for (i = 0; i < n; i++) d[i] = bc_f32_to_fp16(src[i]);
    } else {
        memcpy(BC__CAST(float *, cache) + off, src, (size_t)n * 4);
    }
}

typedef struct bc__attn_task {
    bc_context *c;
    int layer;
    int32_t n_tok, pos0;
} bc__attn_task;

static float bc__kv_dot(const bc_context *c, const void *cache, int64_t off, const float *q, int hd) {
    if (c->kv_f16) return bc__vec_dot_f16_f32(BC__CAST(const uint16_t *, cache) + off, q, hd);
    return bc__vec_dot_f32(BC__CAST(const float *, cache) + off, q, hd);
}

static void bc__kv_axpy(const bc_context *c, const void *cache, int64_t off, float a, float *out, int hd) {
    if (c->kv_f16) bc__vec_mad_f16(out, BC__CAST(const uint16_t *, cache) + off, a, hd);
    else bc__vec_mad_f32(out, BC__CAST(const float *, cache) + off, a, hd);
}

/* softmax(q k^T / sqrt(d) + mask [+ alibi]) v, for a block of up to BC__ATT_QB query
   tokens of one head per step, so each cached key and value row is read once per block
   rather than once per query (prefill was bound by that traffic); each query's numbers
   are computed in the same order whatever block it falls in. Blocks are shared out among
   the threads. */

static void bc__attention_rows(void *arg, int ith, int nth) {
    const bc__attn_task *t = BC__CAST(const bc__attn_task *, arg);
    bc_context *c = t->c;
    const bc_model *m = c->m;
    const bc_hparams *hp = &m->hp;
    int n_head = hp->n_head, hd = hp->n_embd / hp->n_head;
    int64_t e = hp->n_embd, layer_off = (int64_t)t->layer * c->n_ctx * e;
    float *scores = c->scores + (int64_t)ith * BC__ATT_QB * c->n_ctx;
    float scale = 1.0f / sqrtf((float)hd);
    int64_t unit, n_units = (int64_t)((t->n_tok + BC__ATT_QB - 1) / BC__ATT_QB) * n_head;
    for (unit = ith; unit < n_units; unit += nth) {
        int32_t h = (int32_t)(unit % n_head), t0 = (int32_t)(unit / n_head) * BC__ATT_QB;
        int32_t nq = t->n_tok - t0 < BC__ATT_QB ? t->n_tok - t0 : BC__ATT_QB, i, j, jmax = t->pos0 + t0 + nq - 1;
        float mx[BC__ATT_QB], sum[BC__ATT_QB], slope = hp->pos_encoding == BC_POS_ALIBI ? m->alibi_slopes[h] : 0.0f;
        for (i = 0; i < nq; i++) {
            mx[i] = -FLT_MAX;
            sum[i] = 0.0f;
            memset(c->att_out + (int64_t)(t0 + i) * e + (int64_t)h * hd, 0, (size_t)hd * sizeof(float));
        }
        for (j = 0; j <= jmax; j++) {
            int64_t off = layer_off + (int64_t)j * e + (int64_t)h * hd;
            for (i = 0; i < nq; i++) {
                int32_t qpos = t->pos0 + t0 + i;
                float s;
                if (j > qpos) continue;
                /* ALiBi adds slope * key position; slope * (j - i) differs by a constant per row */
                s = bc__kv_dot(c, c->k_cache, off, c->q + (int64_t)(t0 + i) * e + (int64_t)h * hd, hd) * scale + slope * (float)(j - qpos);
                scores[(int64_t)i * c->n_ctx + j] = s;
                if (s > mx[i]) mx[i] = s;
            }
        }
        for (i = 0; i < nq; i++) {
            float *sc = scores + (int64_t)i * c->n_ctx;
            for (j = 0; j <= t->pos0 + t0 + i; j++) {
                sc[j] = expf(sc[j] - mx[i]);
                sum[i] += sc[j];
            }
        }
        for (j = 0; j <= jmax; j++) {
            int64_t off = layer_off + (int64_t)j * e + (int64_t)h * hd;
            for (i = 0; i < nq; i++)
                if (j <= t->pos0 + t0 + i)
                    bc__kv_axpy(c, c->v_cache, off, scores[(int64_t)i * c->n_ctx + j] / sum[i], c->att_out + (int64_t)(t0 + i) * e + (int64_t)h * hd, hd);
        }
    }
}

static float bc__silu(float x) { return x / (1.0f + expf(-x)); }

/* One chunk of n tokens (n <= n_batch) at positions n_past..: the transformer layers,
   leaving the final hidden states (before output_norm) in c->x. */
static void bc__forward_layers(bc_context *c, const int32_t *tokens, int32_t n) {
    const bc_model *m = c->m;
    const bc_hparams *hp = &m->hp;
    int64_t e = hp->n_embd, ff = hp->n_ff, t, i;
    int hd = hp->n_embd / hp->n_head, l, h;
    bc__attn_task at;
    if (hp->pos_encoding == BC_POS_ROPE)
        for (t = 0; t < n; t++) bc__rope_angles(c->rope_cs + t * hd, hd, c->n_past + (int32_t)t, m->inv_freq);
    /* hidden_states = self.embed_tokens(input_ids) */
    for (t = 0; t < n; t++)
        bc_dequantize_row(m->tok_embd.type, BC__CAST(const uint8_t *, m->tok_embd.data) + (uint64_t)tokens[t] * m->tok_embd.row_bytes,
                          c->x + t * e, e);
    for (l = 0; l < hp->n_layer; l++) {
        const bc__layer *L = &m->layers[l];
        int64_t layer_off = (int64_t)l * c->n_ctx * e;
        /* hidden_states = self.input_layernorm(hidden_states) */
        for (t = 0; t < n; t++) bc__rmsnorm(c->xb + t * e, c->x + t * e, L->attn_norm, e, hp->norm_eps);
        /* proj = self.W_pack(hidden_states): split into q, k, v by the converter */
        bc__matmul(c->pool, &L->wq, c->xb, n, c->q, c->mm_scratch);
        bc__matmul(c->pool, &L->wk, c->xb, n, c->k, c->mm_scratch);
        bc__matmul(c->pool, &L->wv, c->xb, n, c->v, c->mm_scratch);
        for (t = 0; t < n; t++) {
            if (hp->pos_encoding == BC_POS_ROPE)
                for (h = 0; h < hp->n_head; h++) {
                    bc__rope_head(c->q + t * e + h * hd, hd, c->rope_cs + t * hd);
                    bc__rope_head(c->k + t * e + h * hd, hd, c->rope_cs + t * hd);
                }
            bc__kv_store(c, c->k_cache, layer_off + (c->n_past + t) * e, c->k + t * e, e);
            bc__kv_store(c, c->v_cache, layer_off + (c->n_past + t) * e, c->v + t * e, e);
        }
        at.c = c;
        at.layer = l;
        at.n_tok = n;
        at.pos0 = c->n_past;
        bc__pool_run(c->pool, bc__attention_rows, &at);
        /* attn_output = self.o_proj(attn_output); hidden_states = residual + hidden_states */
        bc__matmul(c->pool, &L->wo, c->att_out, n, c->xb, c->mm_scratch);
        for (i = 0; i < n * e; i++) c->x[i] += c->xb[i];
        /* hidden_states = self.post_attention_layernorm(hidden_states) */
        for (t = 0; t < n; t++) bc__rmsnorm(c->xb + t * e, c->x + t * e, L->ffn_norm, e, hp->norm_eps);
        /* down_proj(act_fn(gate_proj(x)) * up_proj(x)) */
        bc__matmul(c->pool, &L->gate, c->xb, n, c->ffn_a, c->mm_scratch);
        bc__matmul(c->pool, &L->up, c->xb, n, c->ffn_b, c->mm_scratch);
        for (i = 0; i < n * ff; i++) c->ffn_a[i] = bc__silu(c->ffn_a[i]) * c->ffn_b[i];
        bc__matmul(c->pool, &L->down, c->ffn_a, n, c->xb, c->mm_scratch);
        for (i = 0; i < n * e; i++) c->x[i] += c->xb[i];
    }
}

/* logits = lm_head(norm(hidden_states)) for rows first..first+n-1 of c->x. */
static void bc__forward_logits(bc_context *c, int64_t first, int32_t n, float *logits) {
    const bc_model *m = c->m;
    int64_t e = m->hp.n_embd, t, r;
    for (t = 0; t < n; t++) bc__rmsnorm(c->xb + t * e, c->x + (first + t) * e, m->output_norm, e, m->hp.norm_eps);
    bc__matmul(c->pool, &m->output, c->xb, n, logits, c->mm_scratch);
    if (m->out_scale)
        for (t = 0; t < n; t++)
            for (r = 0; r < m->hp.n_vocab; r++) logits[t * m->hp.n_vocab + r] *= m->out_scale[r];
}

BC_API bc_result bc_context_eval(bc_context *c, const int32_t *tokens, int32_t n, float *logits_all, bc_error *err) {
    const bc_hparams *hp;
    int32_t i, done = 0;
    if (!c || (n > 0 && !tokens) || n < 0) return bc__fail(err, BC_ERR_INVALID, "invalid arguments to bc_context_eval");
    hp = &c->m->hp;
    if (n == 0) return BC_OK;
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab) return bc__fail(err, BC_ERR_RANGE, "token id %d at position %d is outside the vocabulary [0, %d)", tokens[i], i, hp->n_vocab);
    if (n > c->n_ctx - c->n_past)
        return bc__fail(err, BC_ERR_RANGE, "%d tokens do not fit: %d of the context's %d positions are used", n, c->n_past, c->n_ctx);
    memcpy(c->ids + c->n_past, tokens, (size_t)n * 4);
#ifdef BC_CUDA
    if (c->gpu) {
        bc_result r = bc_cuda_eval(c->gpu, tokens, n, c->n_past, logits_all, c->logits, err);
        if (r == BC_OK) c->n_past += n;
        return r;
    }
#endif
    while (done < n) {
        int32_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
        bc__forward_layers(c, tokens + done, chunk);
        c->n_past += chunk;
        if (logits_all) {
            /* xb holds n_batch rows: at most n_batch logit rows at a time */
            bc__forward_logits(c, 0, chunk, logits_all + (int64_t)done * hp->n_vocab);
            if (done + chunk == n) memcpy(c->logits, logits_all + (int64_t)(n - 1) * hp->n_vocab, (size_t)hp->n_vocab * 4);
        } else if (done + chunk == n) {
            bc__forward_logits(c, chunk - 1, 1, c->logits);
        }
        done += chunk;
    }
    bc__ok(err);
    return BC_OK;
}


/* ==========================================================================
   8. Generation
   ========================================================================== */

/* --- sampler: Hugging Face generate's processors, in its order ---------------- */

struct bc_sampler {
    bc_sampler_params p;
    int32_t n_vocab;
    float *work;              /* [n_vocab] logits after the processors */
    int32_t *cand;            /* [n_vocab] candidate ids */
    float *prob;              /* [n_vocab] */
    uint8_t *seen;            /* [n_vocab] ids in history */
    uint64_t s[4];            /* xoshiro256** state */
};

BC_API bc_sampler_params bc_sampler_default_params(void) {
    bc_sampler_params p;
    p.temperature = 0.3f;
    p.top_k = 5;
    p.top_p = 0.85f;
    p.repetition_penalty = 1.05f;
    p.seed = 0;
    return p;
}

static uint64_t bc__splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t bc__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: uniform double in [0, 1). */
static double bc__rand(bc_sampler *s) {
    uint64_t r = bc__rotl(s->s[1] * 5, 7) * 9, t = s->s[1] << 17;
    s->s[2] ^= s->s[0];
    s->s[3] ^= s->s[1];
    s->s[1] ^= s->s[2];
    s->s[0] ^= s->s[3];
    s->s[2] ^= t;
    s->s[3] = bc__rotl(s->s[3], 45);
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

BC_API bc_result bc_sampler_create(bc_sampler **out, int32_t n_vocab, const bc_sampler_params *p, bc_error *err) {
    bc_sampler *s;
    uint64_t seed;
    int i;
    if (!out || n_vocab <= 0) return bc__fail(err, BC_ERR_INVALID, "invalid sampler arguments");
    *out = NULL;
    s = BC__CAST(bc_sampler *, bc__calloc(1, sizeof *s));
    if (!s) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    s->p = p ? *p : bc_sampler_default_params();
    if (!(s->p.temperature >= 0.0f) || s->p.top_k < 0 || !(s->p.top_p > 0.0f && s->p.top_p <= 1.0f) || !(s->p.repetition_penalty > 0.0f)) {
        bc__free(s);
        return bc__fail(err, BC_ERR_INVALID, "sampler parameters out of range (temperature >= 0, top_k >= 0, 0 < top_p <= 1, penalty > 0)");
    }
    s->n_vocab = n_vocab;
    s->work = BC__CAST(float *, bc__malloc((uint64_t)n_vocab * 4));
    s->cand = BC__CAST(int32_t *, bc__malloc((uint64_t)n_vocab * 4));
    s->prob = BC__CAST(float *, bc__malloc((uint64_t)n_vocab * 4));
    s->seen = BC__CAST(uint8_t *, bc__calloc((uint64_t)n_vocab, 1));
    if (!s->work || !s->cand || !s->prob || !s->seen) { bc_sampler_free(s); return bc__fail(err, BC_ERR_NOMEM, "out of memory"); }
    seed = s->p.seed;
    for (i = 0; i < 4; i++) s->s[i] = bc__splitmix(&seed);
    *out = s;
    return BC_OK;
}

BC_API void bc_sampler_free(bc_sampler *s) {
    if (!s) return;
    bc__free(s->work); bc__free(s->cand); bc__free(s->prob); bc__free(s->seen);
    bc__free(s);
}

/* RepetitionPenaltyLogitsProcessor: every id seen once, whatever its count. */
static void bc__apply_penalty(bc_sampler *s, const int32_t *history, int64_t n) {
    int64_t i;
    float pen = s->p.repetition_penalty;
    if (pen == 1.0f) return;
    for (i = 0; i < n; i++) {
        int32_t id = history[i];
        if (id < 0 || id >= s->n_vocab || s->seen[id]) continue;
        s->seen[id] = 1;
        s->work[id] = s->work[id] < 0 ? s->work[id] * pen : s->work[id] / pen;
    }
    for (i = 0; i < n; i++)
        if (history[i] >= 0 && history[i] < s->n_vocab) s->seen[history[i]] = 0;
}

static int32_t bc__argmax(const float *x, int32_t n) {
    int32_t i, best = 0;
    for (i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* Sorts candidate ids by descending value (ties: lower id first). */
static void bc__sort_desc(int32_t *ids, int32_t n, const float *v) {
    int32_t i, j;
    /* candidate lists are short after top-k; an insertion sort is enough */
    for (i = 1; i < n; i++) {
        int32_t x = ids[i];
        for (j = i; j > 0 && (v[ids[j - 1]] < v[x] || (v[ids[j - 1]] == v[x] && ids[j - 1] > x)); j--) ids[j] = ids[j - 1];
        ids[j] = x;
    }
}

/* The candidates TopKLogitsWarper keeps: everything >= the k-th largest value. */
static int32_t bc__top_k(bc_sampler *s, int32_t k) {
    int32_t i, n = 0, V = s->n_vocab;
    if (k <= 0 || k >= V) {
        for (i = 0; i < V; i++) s->cand[i] = i;
        n = V;
    } else {
        /* keep a sorted list of the k largest, then add ties of the k-th */
        float kth;
        for (i = 0; i < V; i++) {
            int32_t j;
            if (n == k && s->work[i] <= s->work[s->cand[k - 1]]) continue;
            j = n < k ? n++ : k - 1;
            while (j > 0 && s->work[s->cand[j - 1]] < s->work[i]) { s->cand[j] = s->cand[j - 1]; j--; }
            s->cand[j] = i;
        }
        kth = s->work[s->cand[k - 1]];
        for (i = 0; i < V; i++) {
            int32_t j, dup = 0;
            if (s->work[i] != kth) continue;
            for (j = 0; j < n; j++) if (s->cand[j] == i) { dup = 1; break; }
            if (!dup) s->cand[n++] = i;
        }
    }
    return n;
}

BC_API int32_t bc_sampler_sample(bc_sampler *s, const float *logits, const int32_t *history, int64_t n_history) {
    int32_t n, i, keep;
    float mx;
    double sum = 0.0, cum, r;
    memcpy(s->work, logits, (size_t)s->n_vocab * 4);
    bc__apply_penalty(s, history, n_history);
    if (s->p.temperature == 0.0f) return bc__argmax(s->work, s->n_vocab);
    for (i = 0; i < s->n_vocab; i++) s->work[i] /= s->p.temperature;
    n = bc__top_k(s, s->p.top_k);
    if (n > 4096 || s->p.top_k == 0) {
        /* no top-k: a full sort is needed for top-p */
        int32_t j, gap;
        for (gap = n / 2; gap > 0; gap /= 2)
            for (i = gap; i < n; i++) {
                int32_t x = s->cand[i];
                for (j = i; j >= gap && (s->work[s->cand[j - gap]] < s->work[x] || (s->work[s->cand[j - gap]] == s->work[x] && s->cand[j - gap] > x)); j -= gap)
                    s->cand[j] = s->cand[j - gap];
                s->cand[j] = x;
            }
    } else {
        bc__sort_desc(s->cand, n, s->work);
    }
    mx = s->work[s->cand[0]];
    for (i = 0; i < n; i++) { s->prob[i] = expf(s->work[s->cand[i]] - mx); sum += s->prob[i]; }
    /* TopPLogitsWarper: drop, from the least likely up, tokens whose cumulative probability
       (ascending order) stays <= 1 - top_p; the most likely token always stays */
    keep = n;
    if (s->p.top_p < 1.0f) {
        cum = 0.0;
        for (i = n - 1; i > 0; i--) {
            cum += s->prob[i] / sum;
            if (cum <= 1.0 - (double)s->p.top_p) keep = i;
            else break;
        }
    }
    sum = 0.0;
    for (i = 0; i < keep; i++) sum += s->prob[i];
    r = bc__rand(s) * sum;
    cum = 0.0;
    for (i = 0; i < keep; i++) {
        cum += s->prob[i];
        if (r < cum) return s->cand[i];
    }
    return s->cand[keep - 1];
}

/* --- generation loop ------------------------------------------------------------ */

BC_API bc_result bc_generate(bc_context *c, bc_sampler *s, const int32_t *prompt, int32_t n_prompt, int32_t max_new_tokens,
                             bc_token_callback cb, void *user, bc_error *err) {
    int32_t *hist, n_hist = 0, i;
    bc_detokenizer d;
    bc_result r = BC_OK;
    char text[256];
    const bc_model *m;
    if (!c || !s || n_prompt < 0 || max_new_tokens < 0 || (n_prompt && !prompt)) return bc__fail(err, BC_ERR_INVALID, "invalid arguments to bc_generate");
    m = c->m;
    if (n_prompt == 0 && c->n_past == 0) return bc__fail(err, BC_ERR_INVALID, "empty prompt and empty context: nothing to continue");
    /* HF penalises every id of input_ids; a conversation continued in the KV cache has its
       earlier turns there, so the history is the whole cache, not just this prompt */
    hist = BC__CAST(int32_t *, bc__malloc(((uint64_t)c->n_past + (uint64_t)n_prompt + (uint64_t)max_new_tokens + 1) * 4));
    if (!hist) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    if (n_prompt && (r = bc_context_eval(c, prompt, n_prompt, NULL, err)) != BC_OK) { bc__free(hist); return r; }
    memcpy(hist, c->ids, (size_t)c->n_past * 4);
    n_hist = c->n_past;
    bc_detokenizer_init(&d, m->tok);
    d.at_start = 0;
    for (i = 0; i < max_new_tokens; i++) {
        int32_t tok = bc_sampler_sample(s, bc_context_logits(c), hist, n_hist);
        int len;
        hist[n_hist++] = tok;
        if (tok == m->hp.eos_id) break;
        len = bc_detokenizer_push(&d, tok, text, (int)sizeof text);
        if (len < 0) len = 0;
        if (cb && cb(user, tok, text, len)) break;
        if (i + 1 == max_new_tokens) break;
        if (c->n_past >= c->n_ctx) { r = bc__fail(err, BC_ERR_RANGE, "context full (%d tokens) after %d new tokens", c->n_ctx, i + 1); break; }
        if ((r = bc_context_eval(c, &tok, 1, NULL, err)) != BC_OK) break;
    }
    if (r == BC_OK) {
        int len = bc_detokenizer_flush(&d, text, (int)sizeof text);
        if (len > 0 && cb) cb(user, -1, text, len);
        bc__ok(err);
    }
    bc__free(hist);
    return r;
}

/* --- chat prompt: the official build_chat_input ------------------------------------ */

typedef struct bc__ids {
    int32_t *v;
    int64_t n, cap;
} bc__ids;

static int bc__ids_push(bc__ids *a, int32_t id) {
    if (a->n == a->cap) {
        int64_t cap = a->cap ? a->cap * 2 : 256;
        int32_t *nv = BC__CAST(int32_t *, bc__realloc(a->v, (uint64_t)cap * 4));
        if (!nv) return 0;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 1;
}

static bc_result bc__ids_encode(bc__ids *a, const bc_tokenizer *t, const char *text, bc_special_mode mode, bc_error *err) {
    int64_t n = bc_tokenizer_encode(t, text, strlen(text), mode, NULL, 0, err), i;
    int32_t *tmp;
    if (n < 0) return (bc_result)n;
    tmp = BC__CAST(int32_t *, bc__malloc((uint64_t)(n ? n : 1) * 4));
    if (!tmp) return bc__fail(err, BC_ERR_NOMEM, "out of memory");
    bc_tokenizer_encode(t, text, strlen(text), mode, tmp, n, err);
    for (i = 0; i < n; i++)
        if (!bc__ids_push(a, tmp[i])) { bc__free(tmp); return bc__fail(err, BC_ERR_NOMEM, "out of memory"); }
    bc__free(tmp);
    return BC_OK;
}

BC_API int64_t bc_chat_build(const bc_tokenizer *t, int32_t user_id, int32_t assistant_id, const bc_chat_message *msgs,
                             int32_t n_msgs, int32_t max_new_tokens, int32_t model_max_length, bc_special_mode mode,
                             int32_t *ids, int64_t cap, bc_error *err) {
    bc__ids sys, hist, round;
    int64_t max_input = (int64_t)model_max_length - max_new_tokens, max_history, i, start, total;
    int32_t r_end, r_start, k;
    bc_result r = BC_OK;
    if (!t || n_msgs < 0 || (n_msgs && !msgs) || user_id < 0 || assistant_id < 0) return bc__fail(err, BC_ERR_INVALID, "invalid arguments to bc_chat_build");
    if (max_input <= 0) return bc__fail(err, BC_ERR_RANGE, "model_max_length %d leaves no room for input after %d new tokens", model_max_length, max_new_tokens);
    memset(&sys, 0, sizeof sys);
    memset(&hist, 0, sizeof hist);
    memset(&round, 0, sizeof round);
    for (i = 0; i < n_msgs; i++) {
        const char *role = msgs[i].role;
        if (!role || !msgs[i].content || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")))
            return bc__fail(err, BC_ERR_INVALID, "message %lld: role must be system, user or assistant", (long long)i);
        if (!strcmp(role, "system") && i != 0) return bc__fail(err, BC_ERR_INVALID, "only the first message may be a system message");
    }
    if (n_msgs && !strcmp(msgs[0].role, "system")) r = bc__ids_encode(&sys, t, msgs[0].content, mode, err);
    max_history = max_input - sys.n;
    /* rounds start at each user message; walk them newest first */
    r_end = n_msgs;
    while (r == BC_OK && r_end > 0) {
        r_start = r_end - 1;
        while (r_start > 0 && strcmp(msgs[r_start].role, "user") != 0) r_start--;
        if (!strcmp(msgs[r_start].role, "system")) r_start++;
        if (r_start >= r_end) break;
        round.n = 0;
        for (k = r_start; k < r_end && r == BC_OK; k++) {
            if (!bc__ids_push(&round, !strcmp(msgs[k].role, "user") ? user_id : assistant_id)) r = bc__fail(err, BC_ERR_NOMEM, "out of memory");
            else r = bc__ids_encode(&round, t, msgs[k].content, mode, err);
        }
        if (r != BC_OK) break;
        if (hist.n == 0 || hist.n + round.n <= max_history) {
            /* history_tokens = round_tokens + history_tokens */
            int64_t old = hist.n;
            for (i = 0; i < round.n; i++) if (!bc__ids_push(&hist, 0)) { r = bc__fail(err, BC_ERR_NOMEM, "out of memory"); break; }
            if (r != BC_OK) break;
            memmove(hist.v + round.n, hist.v, (size_t)old * 4);
            memcpy(hist.v, round.v, (size_t)round.n * 4);
            if (hist.n < max_history) { r_end = r_start; continue; }
        }
        break;
    }
    total = sys.n + hist.n + (n_msgs > 0 && strcmp(msgs[n_msgs - 1].role, "assistant") != 0 ? 1 : 0);
    /* input_tokens = input_tokens[-max_input_tokens:] */
    start = total > max_input ? total - max_input : 0;
    if (r == BC_OK) {
        int64_t o = 0, j;
        for (j = 0; j < total; j++) {
            int32_t id = j < sys.n ? sys.v[j] : j < sys.n + hist.n ? hist.v[j - sys.n] : assistant_id;
            if (j < start) continue;
            if (o < cap) ids[o] = id;
            o++;
        }
        total = o;
    }
    bc__free(sys.v);
    bc__free(hist.v);
    bc__free(round.v);
    if (r != BC_OK) return r;
    bc__ok(err);
    return total;
}

/* ==========================================================================
   9. CUDA: the model internals baichuan_cuda.cu reads (the rest is in that file)
   ========================================================================== */
#ifdef BC_CUDA
BC_API const float *bc_model_output_scale(const bc_model *m) { return m->out_scale; }
#endif

#endif /* BAICHUAN_IMPLEMENTATION_DONE */
#endif /* BAICHUAN_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the baichuan.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
