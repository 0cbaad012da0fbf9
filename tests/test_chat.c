/* bc_chat_build against the official build_chat_input (generation_utils.py) on the real
   Baichuan 2 tokenizer: system text, rounds, history truncation, left truncation
   (tests/data/chat/chat_cases.txt, made by tools/reference/make_model_fixtures.py). */
#define BAICHUAN_IMPLEMENTATION
#include "baichuan.h"
#include "bc_test.h"

static char *unhex(const char *h) {
    size_t n = strlen(h) / 2, i;
    char *s = (char *)malloc(n + 1);
    for (i = 0; i < n; i++) { unsigned v; sscanf(h + 2 * i, "%2x", &v); s[i] = (char)v; }
    s[n] = 0;
    return s;
}

int main(void) {
    size_t n, n_cases_bytes;
    unsigned char *buf = bct_read_file("../shared/vocab/baichuan2-tokenizer.model", &n);
    char *cases = (char *)bct_read_file("tests/data/chat/chat_cases.txt", &n_cases_bytes), *line, *next;
    bc_spm_model m;
    bc_tokenizer *t = NULL;
    bc_error err;
    bc_chat_message msgs[16];
    char *texts[16];
    int n_msgs = 0, max_new = 0, max_len = 0, n_cases = 0, i;
    static int32_t want[8192], got[8192];
    CHECK(cases != NULL, "chat fixtures present");
    if (!buf) { SKIP("../shared/vocab/baichuan2-tokenizer.model not present: chat prompts not checked"); free(cases); return bct_done(); }
    bc_spm_parse(&m, buf, n, &err);
    bc_tokenizer_from_spm(&t, &m, &err);
    bc_spm_free(&m);
    free(buf);
    for (line = cases; line && *line; line = next) {
        char role[32], hex[65536];
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (sscanf(line, "case %d %d", &max_new, &max_len) == 2) n_msgs = 0;
        else if (sscanf(line, "msg %31s %65535s", role, hex) >= 1 && n_msgs < 16) {
            char *colon = strchr(line + 4, ' ');
            texts[n_msgs] = unhex(colon ? colon + 1 : "");
            msgs[n_msgs].role = strcmp(role, "user") == 0 ? "user" : strcmp(role, "assistant") == 0 ? "assistant" : "system";
            msgs[n_msgs].content = texts[n_msgs];
            n_msgs++;
        } else if (!strncmp(line, "ids", 3)) {
            int nw = 0;
            int64_t ng;
            char *p = line + 3, *end;
            while (*p) { long v = strtol(p, &end, 10); if (end == p) break; want[nw++] = (int32_t)v; p = end; }
            ng = bc_chat_build(t, 195, 196, msgs, n_msgs, max_new, max_len, BC_SPECIAL_HF, got, 8192, &err);
            CHECK(ng == nw && memcmp(got, want, (size_t)nw * 4) == 0, "case %d (%d messages, %d/%d): %lld ids vs %d expected", n_cases, n_msgs, max_new, max_len, (long long)ng, nw);
            for (i = 0; i < n_msgs; i++) free(texts[i]);
            n_msgs = 0;
            n_cases++;
        }
    }
    CHECK(n_cases >= 8, "%d chat cases", n_cases);
    CHECK(bc_chat_build(t, 195, 196, msgs, 0, 4096, 4096, BC_SPECIAL_HF, got, 10, &err) == BC_ERR_RANGE, "no room for input");
    bc_tokenizer_free(t);
    free(cases);
    return bct_done();
}
