# run: the main job on the bundled tiny model, through the real converter and the CLI
RUN_PROMPT ?= A man who
run: $(BUILD)/baichuan $(BUILD)/tiny-q8_0.gguf
	$(BUILD)/baichuan -m $(BUILD)/tiny-q8_0.gguf -p "$(RUN_PROMPT)" -n 80 -s 3

$(BUILD)/tiny-%.gguf: $(BUILD)/baichuan-convert $(wildcard examples/tiny/*)
	@$(BUILD)/baichuan-convert examples/tiny -o $@ --type $*

# bench: prefill and decode speed on a synthetic full-size 7B Q4_0 file (made once, 3.9 GiB)
BENCH_MODEL ?= $(BUILD)/bench-7b-q4_0.gguf
bench: $(BUILD)/baichuan-bench $(BUILD)/baichuan-convert
	@test -f $(BENCH_MODEL) || $(BUILD)/baichuan-convert --synthetic 7b --type q4_0 -o $(BENCH_MODEL)
	$(BUILD)/baichuan-bench -m $(BENCH_MODEL) -t 2 -p 512 -n 128 -r 3

# the bundled model in every type the perplexity test compares
TEST_DATA += $(BUILD)/tiny-f32.gguf $(BUILD)/tiny-q8_0.gguf $(BUILD)/tiny-q4_0.gguf
