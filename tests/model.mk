# Model files the tests read, converted from the official-code fixtures in tests/data by
# our converter (so every model test also exercises the converter). The -s2 models have
# dimensions (80, 208) that are not whole q8_0/q4_0 blocks: f32 and f16 only.
TEST_MODELS := b7-s2-f32 b7-s2-f16 b13-s2-f32 b13-s2-f16 \
               b7-q-f32 b7-q-f16 b7-q-q8_0 b7-q-q4_0 b13-q-f32 b13-q-f16 b13-q-q8_0 b13-q-q4_0 \
               b7-s2-bf16-f32 b7-s2-bf16-bf16
TEST_DATA += $(patsubst %,$(BUILD)/%.gguf,$(TEST_MODELS))

# build/NAME-TYPE.gguf from tests/data/NAME (the type is the last dash-separated word)
$(patsubst %,$(BUILD)/%.gguf,$(TEST_MODELS)): $(BUILD)/%.gguf: $(BUILD)/baichuan-convert $$(wildcard tests/data/$$(basename $$(subst -,.,$$*))/*)
	@$(BUILD)/baichuan-convert tests/data/$(subst .,-,$(basename $(subst -,.,$*))) -o $@ --type $(subst .,,$(suffix $(subst -,.,$*)))
