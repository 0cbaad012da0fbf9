/* Minimal test harness: each test program counts its checks and ends with the line
   "N passed, N failed, N skipped"; its exit status is the failure count (capped). */
#ifndef BC_TEST_H
#define BC_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int bct_passed, bct_failed, bct_skipped;

#define CHECK(cond, ...) do { \
    if (cond) { bct_passed++; } else { \
        bct_failed++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

/* A check that could not run here (missing optional data); says why. */
#define SKIP(...) do { bct_skipped++; fprintf(stderr, "SKIP %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)

#define CHECK_CLOSE(a, b, tol, what) do { double a_ = (a), b_ = (b); \
    CHECK(fabs(a_ - b_) <= (tol), "%s: %.9g vs %.9g (tol %g)", what, a_, b_, (double)(tol)); \
} while (0)

static int bct_done(void) {
    printf("%d passed, %d failed, %d skipped\n", bct_passed, bct_failed, bct_skipped);
    return bct_failed > 100 ? 100 : bct_failed;
}

/* Reads a whole file; NULL if missing. Caller frees. */
static unsigned char *bct_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (size) *size = (size_t)n; }
    return buf;
}
#endif
