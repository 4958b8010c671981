# deeptune — build, test, benchmark.
#
#   make                      build ./deeptune
#   make test                 build and run the whole test suite
#   make bench                benchmarks against PyTorch, scikit-learn and glmnet
#   make run                  the main job: import every shared V4 session
#   make SANITIZE=address,undefined test    with sanitizers
#   make DEBUG=1              -O0 -g3
#   make install PREFIX=/usr/local
#
# The first time, every target runs scripts/install-deps, which asks apt only
# for what is missing, so a fresh Debian machine needs nothing else.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
CC        ?= cc
# Sanitizer and debug builds get their own object directories, so switching
# between them never mixes objects; ./deeptune is a link to the last build.
ifdef SANITIZE
BUILD     ?= build/san
else ifdef DEBUG
BUILD     ?= build/debug
else
BUILD     ?= build/release
endif
DATA      ?= $(abspath ../shared/data)

ifndef DEPS_CHECKED
# Outer make: make sure the libraries are there, then re-enter with the
# pkg-config flags available.
.DEFAULT_GOAL := all
.PHONY: all test bench run install clean memcheck check-real
all test test-coretypes run install memcheck check-real:
	@scripts/install-deps
	@$(MAKE) --no-print-directory DEPS_CHECKED=1 $@
bench:
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory DEPS_CHECKED=1 $@
clean:
	rm -rf build deeptune
else

PKGS      := hdf5 gsl openblas libpng libjpeg zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
# GSL's pkg-config pulls in its own reference CBLAS; OpenBLAS provides CBLAS.
PKG_LIBS  := $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS)))

ifdef DEBUG
OPT       := -O0 -g3
else
OPT       := -O3 -g
endif
# -fno-math-errno and -fno-trapping-math let sqrt and compare-and-select
# loops vectorise; they change no result (we neither read errno nor trap).
CFLAGS    ?= -std=c11 $(OPT) -fno-math-errno -fno-trapping-math -fopenmp-simd -Wall -Wextra
CPPFLAGS  += -D_POSIX_C_SOURCE=200809L -DDEEPTUNE_VERSION='"$(VERSION)"' -Ipipeline -Imodels -Iregression $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lpthread -lm
ifdef SANITIZE
CFLAGS    += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

LIB_SRC   := $(filter-out pipeline/main.c,$(wildcard pipeline/*.c models/*.c regression/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/specs.o
SPECS     := $(wildcard models/*.spec)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/tests/bench_cnn $(BUILD)/tests/bench_readouts $(BUILD)/tests/bench_tune $(BUILD)/tests/bench_cluster

BIN       := $(BUILD)/deeptune

.PHONY: all test test-coretypes bench run install memcheck check-real
# ./deeptune is the optimised build: a sanitizer or debug build (whose tests
# get DEEPTUNE=$(BIN)) leaves it alone, so experiments run at full speed.
all: $(BIN)
ifeq ($(SANITIZE)$(DEBUG),)
	@ln -sf $(BIN) deeptune
endif

$(BIN): $(BUILD)/pipeline/main.o $(BUILD)/libdeeptune.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libdeeptune.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The network specs are compiled into the binary.
$(BUILD)/specs.c: $(SPECS) scripts/embed-specs
	@mkdir -p $(dir $@)
	scripts/embed-specs $(SPECS) > $@

$(BUILD)/specs.o: $(BUILD)/specs.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libdeeptune.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test: all $(TEST_BIN)
	@DEEPTUNE=$(abspath $(BIN)) DEEPTUNE_DATA=$(DATA) DEEPTUNE_SANITIZE="$(SANITIZE)" \
	  tests/run $(BUILD)/tests

# the numeric tests under the OpenBLAS kernels Haswell, Zen, SkylakeX, Prescott
test-coretypes: all $(TEST_BIN)
	@DEEPTUNE=$(abspath $(BIN)) DEEPTUNE_DATA=$(DATA) DEEPTUNE_SANITIZE="$(SANITIZE)" \
	  scripts/test-coretypes $(BUILD)/tests $(CORETYPES)

bench: all $(BENCH_BIN)
	@BENCH_CNN=$(abspath $(BUILD)/tests/bench_cnn) DEEPTUNE_DATA=$(DATA) scripts/bench
	@BENCH_READOUTS=$(abspath $(BUILD)/tests/bench_readouts) scripts/bench-readouts
	@BENCH_CLUSTER=$(abspath $(BUILD)/tests/bench_cluster) scripts/bench-cluster

run: all
	DEEPTUNE=$(abspath $(BIN)) DEEPTUNE_DATA=$(DATA) experiments/v4/run

check-real: all
	@DEEPTUNE=$(abspath $(BIN)) DEEPTUNE_DATA=$(DATA) scripts/check-real

memcheck: all
	DEEPTUNE=$(abspath $(BIN)) DEEPTUNE_DATA=$(DATA) tests/valgrind_import.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/deeptune/models
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/deeptune
	install -m 644 $(SPECS) $(DESTDIR)$(PREFIX)/share/deeptune/models/

.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
endif

# ---- fuzzing: make fuzz [FUZZ_TIME=60] -----------------------------------
# libFuzzer harnesses (tests/fuzz/) for the parsers of untrusted input, built
# with clang under ASan and UBSan into build/fuzz, then each run for
# FUZZ_TIME seconds on its corpus build/fuzz/corpus/NAME (seeded by
# scripts/make-fuzz-corpus, grown by the runs) plus the saved findings in
# tests/badinput/NAME.  Logs go to build/fuzz/logs/NAME.log, crashing
# inputs to build/fuzz/artifacts/.  OpenBLAS runs single-threaded, as its
# thread pool retries failed allocations forever (see issue 16, E), and a
# failed allocation returns NULL under ASan too, as it does in the release
# build, so that the out-of-memory paths are what gets tested.
ifndef DEPS_CHECKED
.PHONY: fuzz
fuzz:
	@scripts/install-deps --fuzz
	@$(MAKE) --no-print-directory DEPS_CHECKED=1 FUZZ=1 BUILD=build/fuzz CC=clang $@
else ifdef FUZZ
FUZZ_TIME    ?= 60
# NAME:max_len — inputs no longer than the seeds need
FUZZ_TARGETS := npy:4096 csv:4096 zip:16384 image:16384 spec:16384 h5:32768
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS       += -fsanitize=fuzzer-no-link $(FUZZ_SAN)
LDFLAGS      += $(FUZZ_SAN)
FUZZ_BIN     := $(foreach t,$(FUZZ_TARGETS),$(BUILD)/fuzz_$(firstword $(subst :, ,$(t))))

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libdeeptune.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

.PHONY: fuzz fuzz-build fuzz-corpus
fuzz-build: $(FUZZ_BIN) $(BIN)

fuzz-corpus: $(BIN)
	@DEEPTUNE=$(abspath $(BIN)) scripts/make-fuzz-corpus $(BUILD)/corpus

fuzz: fuzz-build fuzz-corpus
	@mkdir -p $(BUILD)/logs $(BUILD)/artifacts $(BUILD)/tmp; failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; len=$${t#*:}; mkdir -p $(BUILD)/corpus/$$name tests/badinput/$$name; \
	  printf 'fuzz %-6s %4s s ... ' $$name $(FUZZ_TIME); \
	  if TMPDIR=$(abspath $(BUILD)/tmp) OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=allocator_may_return_null=1 \
	     $(BUILD)/fuzz_$$name -max_total_time=$(FUZZ_TIME) -max_len=$$len -rss_limit_mb=2048 -timeout=10 \
	       -print_final_stats=1 -artifact_prefix=$(BUILD)/artifacts/$$name- \
	       $(BUILD)/corpus/$$name tests/badinput/$$name >$(BUILD)/logs/$$name.log 2>&1; \
	  then echo "ok, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(BUILD)/logs/$$name.log) runs"; \
	  else echo "FAILED (see $(BUILD)/logs/$$name.log)"; failed="$$failed $$name"; fi; \
	done; \
	rm -rf $(BUILD)/tmp; \
	if [ -n "$$failed" ]; then echo "fuzz: findings in:$$failed; inputs in $(BUILD)/artifacts/"; exit 1; fi
endif
# ---- end of fuzzing --------------------------------------------------------
