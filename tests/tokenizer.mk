# A vocabulary-only GGUF of the real Baichuan 2 tokenizer, made by our converter, when
# ../shared/vocab is present (tests skip otherwise).
ifneq ($(wildcard ../shared/vocab/baichuan2-tokenizer.model),)
TEST_DATA += $(BUILD)/vocab-baichuan2.gguf
$(BUILD)/vocab-baichuan2.gguf: $(BUILD)/baichuan-convert ../shared/vocab/baichuan2-tokenizer.model
	@mkdir -p $(BUILD)/vocab-baichuan2
	@cp ../shared/vocab/baichuan2-tokenizer.model $(BUILD)/vocab-baichuan2/tokenizer.model
	@$(BUILD)/baichuan-convert $(BUILD)/vocab-baichuan2 -o $@ --vocab-only
endif

# baichuan-tokenize: tokenize text or a whole file (throughput) from a .gguf or a tokenizer.model
PROGRAMS += $(BUILD)/baichuan-tokenize
$(BUILD)/baichuan-tokenize: examples/tokenize.c $(HDR) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I. -o $@ $< $(LDLIBS)
