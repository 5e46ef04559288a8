# visage build.  `make` builds build/visage and build/libvisage.a; `make test` and `make run` are
# the README's two commands (each runs scripts/setup.sh first).
#
#   make              build/libvisage.a, build/visage, build/tests/test_*
#   make test         set-up (test mode), the normal and the ASan+UBSan build (build-asan/), then
#                     every test of both; fails if any test fails (exit 77 = skipped)
#   make run          set-up (run mode), build, then the server on http://localhost:8080/
#   make demo         set-up, build, then the engine on a real face crop (visage nn)
#   make bench        build bench/*.c against build/libvisage.a, then bench/run.sh if present
#   make format       clang-format -i on src, tests, bench;  make format-check: only check
CC      ?= gcc
BUILD   ?= build
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Werror
OPT     ?= -O2 -g
CFLAGS  += $(CSTD) $(WARN) $(OPT) -MMD -MP -Isrc -I/usr/include/postgresql
LDLIBS  += -lXNNPACK -lpthreadpool -lcjson -ljpeg -lspng -lwebp -lsqlite3 -lpq -lmicrohttpd -lsodium -lpthread -lm

# The sanitizer build (make test builds it into build-asan/).  Any UBSan finding aborts the test.
ASAN_BUILD = build-asan
ASAN_OPT   = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
JOBS      ?= 2

LIB_SRC := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
CLI_SRC := $(shell find src/cli -name '*.c' | sort)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FORMAT_SRC = $(shell find src tests bench -name '*.[ch]' ! -path '*/node_modules/*' | sort)

.PHONY: all clean test run demo bench format format-check
all: $(BUILD)/visage $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libvisage.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/visage: $(CLI_OBJ) $(BUILD)/libvisage.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libvisage.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libvisage.a -o $@ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libvisage.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libvisage.a -o $@ $(LDLIBS)

test:
	scripts/setup.sh test
	$(MAKE) -j$(JOBS) all
	$(MAKE) -j$(JOBS) BUILD=$(ASAN_BUILD) OPT="$(ASAN_OPT)" all
	scripts/run_tests.sh $(BUILD) $(ASAN_BUILD)

run:
	scripts/setup.sh run
	$(MAKE) -j$(JOBS) $(BUILD)/visage
	$(BUILD)/visage serve

demo:
	scripts/setup.sh run
	$(MAKE) -j$(JOBS) $(BUILD)/visage
	scripts/demo.sh $(BUILD)

bench:
	scripts/setup.sh test
	$(MAKE) -j$(JOBS) $(BUILD)/libvisage.a $(BENCH_BIN)
	if [ -f bench/run.sh ]; then BUILD=$(BUILD) sh bench/run.sh; fi

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-asan

include mk/onnx.mk
include mk/embed.mk

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d)
