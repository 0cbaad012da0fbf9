/* The command-line tool as a user drives it: perplexity against the official number,
   tokenizing, greedy ids, logits dumps, and one clear error line with a non-zero exit for
   bad input. */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"
#include <sys/wait.h>

/* Runs cmd; returns its exit status and its stdout (and stderr) in out. */
static int run(const char *cmd, char *out, size_t cap) {
    char full[4096];
    FILE *p;
    size_t n = 0;
    int st;
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    p = popen(full, "r");
    if (!p) return -1;
    while (n + 1 < cap) { size_t k = fread(out + n, 1, cap - 1 - n, p); if (k == 0) break; n += k; }
    out[n] = 0;
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_perplexity(const char *model, const char *dir) {
    char cmd[512], out[8192], path[256];
    size_t n;
    char *exp;
    double want = 0, got = 0;
    const char *p;
    snprintf(path, sizeof path, "%s/ppl_expected.txt", dir);
    exp = (char *)bct_read_file(path, &n);
    if (!exp) { CHECK(0, "missing %s", path); return; }
    p = strchr(exp, '\n');
    want = p ? atof(p + 1) : 0;
    snprintf(cmd, sizeof cmd, "build/baichuan -m %s --perplexity %s/ppl.txt -t 2", model, dir);
    CHECK(run(cmd, out, sizeof out) == 0, "%s", out);
    p = strstr(out, "perplexity: ");
    if (p) got = atof(p + 12);
    CHECK(fabs(got - want) / want < 5e-5, "%s: perplexity %.8g vs official %.8g (4 significant digits)", model, got, want);
    /* the tokenizer ids the official BaichuanTokenizer gave for the same text */
    {
        char *text;
        size_t tn;
        snprintf(path, sizeof path, "%s/ppl.txt", dir);
        text = (char *)bct_read_file(path, &tn);
        if (text && strchr(text, '\'') == NULL) {
            char *nl = strchr(exp, '\n');
            snprintf(cmd, sizeof cmd, "build/baichuan -m %s --tokenize -p '%s'", model, text);
            CHECK(run(cmd, out, sizeof out) == 0, "tokenize");
            if (nl) *nl = 0;
            CHECK(strncmp(out, exp, strlen(exp)) == 0 && out[strlen(exp)] == '\n', "--tokenize ids differ from the official tokenizer");
        }
        free(text);
    }
    free(exp);
}

int main(void) {
    char out[1 << 16], cmd[1024];
    size_t n;
    char *g = (char *)bct_read_file("tests/data/b7-s2/greedy_p17.txt", &n), *nl;
    check_perplexity("build/b7-s2-f32.gguf", "tests/data/b7-s2");
    check_perplexity("build/b13-s2-f32.gguf", "tests/data/b13-s2");
    if (g && (nl = strchr(g, '\n')) != NULL) {
        char *second = nl + 1, *eos;
        *nl = 0;
        second[strcspn(second, "\n")] = 0;
        snprintf(cmd, sizeof cmd, "build/baichuan -m build/b7-s2-f32.gguf --tokens \"%s\" -n 40 --temp 0 --repeat-penalty 1 --print-ids 2>/dev/null", g);
        CHECK(run(cmd, out, sizeof out) == 0, "greedy run");
        /* the CLI stops at eos (id 2); the official loop continued past it */
        eos = strstr(second, " 2 ");
        if (eos) *eos = 0;
        CHECK(strncmp(out, second, strlen(second)) == 0, "CLI greedy ids differ from the official decoding");
    }
    free(g);
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf --tokens '5 6 7' --dump-logits build/test_cli.logits", out, sizeof out) == 0, "%s", out);
    {
        float *l = (float *)bct_read_file("build/test_cli.logits", &n);
        CHECK(l && n == 3 * 512 * 4, "logits file size %zu", n);
        free(l);
        remove("build/test_cli.logits");
    }
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf -p '-1' -n 3 --temp 0", out, sizeof out) == 0 && strncmp(out, "-1", 2) == 0, "-p takes '-1' literally: %s", out);
    CHECK(run("build/baichuan -m build/no-such.gguf -p hi", out, sizeof out) != 0 && strstr(out, "error:") && strstr(out, "no-such"), "missing model: %s", out);
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf --tokens '5 600 7'", out, sizeof out) != 0 && strstr(out, "600"), "id out of range: %s", out);
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf -c 8 --tokens '5 6 7 8 9 10 11 12 13 14'", out, sizeof out) != 0 && strstr(out, "context"), "prompt longer than the context: %s", out);
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf --frobnicate", out, sizeof out) == 2 && strstr(out, "unknown argument"), "unknown flag: %s", out);
    CHECK(run("build/baichuan -m build/b7-s2-f32.gguf -p hi --top-p 2", out, sizeof out) == 2, "bad --top-p");
    CHECK(run("build/baichuan -m tests/data/b7-s2/config.json -p hi", out, sizeof out) != 0 && strstr(out, "GGUF"), "not a model file: %s", out);
    CHECK(run("build/baichuan --help", out, sizeof out) == 0 && strstr(out, "--perplexity"), "--help");
    CHECK(run("build/simple build/b7-s2-f32.gguf Hello", out, sizeof out) == 0 && strncmp(out, "Hello", 5) == 0, "examples/simple.c runs: %s", out);
    return bct_done();
}
