# cuda: the GPU offload (baichuan_cuda.cu) when nvcc is present: the CLI, the GPU benchmark
# and the GPU-vs-CPU test, built with -DBC_CUDA. Compile only; `make cuda-test` runs the test
# (needs a device and the converted test models). Without nvcc it says so and succeeds.
NVCC_FOUND := $(shell command -v $(NVCC) 2>/dev/null)
CUDA_ARCH  ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS  ?= -O3 -std=c++17 $(CUDA_ARCH)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC_FOUND))
CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -lcudart -lcublas $(LDLIBS) -lstdc++
CUDA_PROGS := $(BUILD)/baichuan-cuda $(BUILD)/baichuan-bench-cuda $(BUILD)/test_cuda

.PHONY: cuda-test
ifeq ($(NVCC_FOUND),)
cuda cuda-test:
	@echo "nvcc not found: skipping CUDA build"
else
cuda: $(CUDA_PROGS)

cuda-test: $(BUILD)/test_cuda $(TEST_DATA)
	$(BUILD)/test_cuda
endif

$(BUILD)/cuda/baichuan_cuda.o: baichuan_cuda.cu $(HDR)
	@mkdir -p $(BUILD)/cuda
	$(NVCC) $(NVCCFLAGS) -I. -c $< -o $@

$(BUILD)/cuda/%.o: | $(BUILD)
	@mkdir -p $(BUILD)/cuda
	$(CC) $(CFLAGS) $(WARN) -DBC_CUDA -I. -Itests -I$(CUDA_HOME)/include -c $< -o $@

$(BUILD)/cuda/main.o: examples/main.c $(HDR)
$(BUILD)/cuda/bench_cuda.o: tests/cuda/bench_cuda.c $(HDR)
$(BUILD)/cuda/test_cuda.o: tests/cuda/test_cuda.c $(HDR) tests/bc_test.h

$(BUILD)/baichuan-cuda: $(BUILD)/cuda/main.o $(BUILD)/cuda/baichuan_cuda.o
	$(CC) -o $@ $^ $(CUDA_LIBS)
$(BUILD)/baichuan-bench-cuda: $(BUILD)/cuda/bench_cuda.o $(BUILD)/cuda/baichuan_cuda.o
	$(CC) -o $@ $^ $(CUDA_LIBS)
$(BUILD)/test_cuda: $(BUILD)/cuda/test_cuda.o $(BUILD)/cuda/baichuan_cuda.o
	$(CC) -o $@ $^ $(CUDA_LIBS)
