# baichuan.h build. Binaries go to $(BUILD); sources never get build products beside them.
# `make help` lists the targets.

CC      ?= cc
CXX     ?= c++
NVCC    ?= nvcc
BUILD   ?= build
OPT     ?= -O2 -march=native
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-function -Wshadow -Wstrict-prototypes
LDLIBS  := -lm -lpthread
HDR     := baichuan.h

# Programs exist only once their source does, so partial trees still build.
PROGRAMS := $(if $(wildcard examples/main.c),$(BUILD)/baichuan) \
            $(if $(wildcard tools/convert.c),$(BUILD)/baichuan-convert) \
            $(if $(wildcard examples/bench.c),$(BUILD)/baichuan-bench) \
            $(if $(wildcard examples/simple.c),$(BUILD)/simple)
TESTS    := $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/test_*.c))
# Files tests read that the build makes (converted models and so on); parts append to it.
TEST_DATA :=

.PHONY: all test run bench cuda sanitize tsan cxx nothreads fuzz clean help

# Parts add programs, test data and targets in their own fragments.
.SECONDEXPANSION:
-include tests/*.mk

# all: the CLI, the converter, the benchmark and the minimal example
all: $(PROGRAMS)

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/baichuan: examples/main.c $(HDR) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -o $@ $< $(LDLIBS)

$(BUILD)/baichuan-convert: tools/convert.c $(HDR) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -o $@ $< $(LDLIBS)

$(BUILD)/baichuan-bench: examples/bench.c $(HDR) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -o $@ $< $(LDLIBS)

$(BUILD)/simple: examples/simple.c $(HDR) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -o $@ $< $(LDLIBS)

$(BUILD)/test_%: tests/test_%.c $(HDR) tests/bc_test.h | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -Itests -o $@ $< $(LDLIBS)

# test: every test program, ending with "N passed, N failed, N skipped"
test: $(PROGRAMS) $(TESTS) $(TEST_DATA)
	@sh tests/run.sh $(TESTS)

# sanitize: the tests again under AddressSanitizer + UndefinedBehaviorSanitizer
sanitize: $(PROGRAMS) $(TEST_DATA)
	$(MAKE) test BUILD=build/asan OPT="-O1 -march=native" \
	  CFLAGS="-O1 -march=native -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# tsan: the threaded tests under ThreadSanitizer (thread pool, contexts sharing a model)
TSAN_TESTS := test_threads test_alloc test_model
tsan: $(PROGRAMS) $(TEST_DATA)
	$(MAKE) BUILD=build/tsan CFLAGS="-O1 -march=native -g -fsanitize=thread" $(patsubst %,build/tsan/%,$(TSAN_TESTS))
	TSAN_OPTIONS=halt_on_error=1 sh tests/run.sh $(patsubst %,build/tsan/%,$(TSAN_TESTS))

# nothreads: the tests in a BC_NO_THREADS build, as microcontroller users compile it
nothreads: $(PROGRAMS) $(TEST_DATA)
	$(MAKE) test BUILD=build/nothreads CFLAGS="$(OPT) -g -DBC_NO_THREADS"

# cxx: the header compiles as C++ too, and BAICHUAN_STATIC works in two translation units
cxx: | $(BUILD)
	$(CXX) -std=c++11 $(OPT) -Wall -Wextra -Wno-unused-function -I. -c -x c++ tests/compile/impl.c -o $(BUILD)/cxx_impl.o
	$(CC) -std=c99 -pedantic $(OPT) -Wall -Wextra -Wno-unused-function -I. -c tests/compile/impl.c -o $(BUILD)/c99_impl.o
	$(CC) $(OPT) -Wall -Wno-unused-function -I. -c tests/compile/static_a.c -o $(BUILD)/static_a.o
	$(CC) $(OPT) -Wall -Wno-unused-function -I. -c tests/compile/static_b.c -o $(BUILD)/static_b.o
	$(CC) $(OPT) -o $(BUILD)/static_ab $(BUILD)/static_a.o $(BUILD)/static_b.o $(LDLIBS)
	$(BUILD)/static_ab
	$(CC) $(OPT) -Wall -Wno-unused-function -DBC_NO_SIMD -I. -c tests/compile/impl.c -o $(BUILD)/nosimd_impl.o
	$(CC) $(OPT) -Wall -Wno-unused-function -DBC_NO_THREADS -DBC_NO_MMAP -I. -c tests/compile/impl.c -o $(BUILD)/nothreads_impl.o

# clean: remove every build product
clean:
	rm -rf build

# help: this list
help:
	@grep -E '^# [a-z-]+:' Makefile | sed 's/^# /  make /'
