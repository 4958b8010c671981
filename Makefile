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
all test run install memcheck check-real:
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

.PHONY: all test bench run install memcheck check-real
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
