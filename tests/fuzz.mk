# fuzz: libFuzzer harnesses for every parser (clang with its runtime), each run for
# FUZZ_SECONDS on a working copy of its committed seed corpus; crashes land in build/fuzz/.
FUZZ_SECONDS ?= 10
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -Itools
FUZZERS      := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build/fuzz/%: tests/fuzz/%.c $(HDR) $(wildcard tools/*.c)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< -lm -lpthread

fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do n=$$(basename $$f); \
	  mkdir -p build/fuzz/corpus-$$n; \
	  if [ -d tests/fuzz/corpus/$$n ]; then cp -n tests/fuzz/corpus/$$n/* build/fuzz/corpus-$$n/ 2>/dev/null || true; fi; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=build/fuzz/$$n- \
	      -print_final_stats=1 build/fuzz/corpus-$$n > build/fuzz/$$n.log 2>&1 \
	      || { tail -n 60 build/fuzz/$$n.log; echo "$$n: FAILED (log: build/fuzz/$$n.log)"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|DONE" build/fuzz/$$n.log; \
	done
