# vsocksim build. Outputs go to build/<compiler>-<mode>/.
#   make run            the default simulation
#   make test           every test, normal and ASan+UBSan builds
#   make CC=clang test  the same with clang
CC ?= cc
MODE ?= release

CCNAME := $(notdir $(firstword $(CC)))
# BUILD_PREFIX keeps parallel builds of one tree apart (BUILD_PREFIX=mine-).
BUILD_PREFIX ?=
B := build/$(BUILD_PREFIX)$(CCNAME)-$(MODE)

MODULES := ring transport driver device sim traces conformance cli vhostuser fuzz bench khost

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wformat=2 -Wvla
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g $(WARN) -I.
OPT_release := -O2
OPT_debug := -O0
OPT_asan := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ifeq ($(origin OPT_$(MODE)),undefined)
$(error MODE must be release, debug or asan, not '$(MODE)')
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(OPT_$(MODE)) $(CFLAGS)
ALL_LDFLAGS := $(filter -fsanitize=%,$(OPT_$(MODE))) $(LDFLAGS)

ATF_CFLAGS = $(shell pkg-config --cflags atf-c 2>/dev/null)
ATF_LIBS = $(shell pkg-config --libs atf-c 2>/dev/null)

ALL_SRCS := $(wildcard $(addsuffix /*.c,$(MODULES)))
TEST_SRCS := $(filter %_test.c,$(ALL_SRCS))
TESTLIB_SRCS := $(filter %_testlib.c,$(ALL_SRCS))
MAIN_SRCS := cli/vsocksim_main.c
# Other programs (*_prog.c: fuzz harnesses, benchmarks, the in-guest runner)
# are built by their mk/ fragments and stay out of the library.
PROG_SRCS := $(filter %_prog.c,$(ALL_SRCS))
# The conformance cases register themselves in a linker section
# (conformance/conf_case.h) and nothing names them, so an archive would drop
# them: the programs that list cases link these objects directly.
CASE_SRCS := $(filter-out $(TEST_SRCS),$(wildcard conformance/cases_*.c))
CASE_OBJS := $(patsubst %.c,$(B)/%.o,$(CASE_SRCS))
# Rewritten when a case file comes or goes, so that those programs relink
# (a deleted file changes no object); link lines leave it out.
CASE_LIST := $(B)/conformance/case-files.txt
LIB_SRCS := $(filter-out $(TEST_SRCS) $(TESTLIB_SRCS) %_main.c $(PROG_SRCS) $(CASE_SRCS),$(ALL_SRCS))

LIB := $(B)/libvsocksim.a
TESTLIB := $(B)/libvsocksim_test.a
TESTS := $(patsubst %.c,$(B)/%,$(TEST_SRCS))
VSOCKSIM := $(B)/vsocksim

.PHONY: all run test test-one test-determinism deps clean corpus-update
all: $(VSOCKSIM) $(TESTS)

deps:
	@ci/install-deps.sh build

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(if $(filter %_test.c %_testlib.c,$<),$(ATF_CFLAGS) -DVSOCKSIM_SRCDIR='"$(CURDIR)"') -MMD -MP -c $< -o $@

$(LIB): $(patsubst %.c,$(B)/%.o,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TESTLIB): $(patsubst %.c,$(B)/%.o,$(TESTLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^ $(if $^,,; ar rcs $@)

$(B)/%_test: $(B)/%_test.o $(B)/ci/atf_lsan.o $(TESTLIB) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ATF_LIBS) -lm

$(CASE_LIST): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CASE_SRCS)' | cmp -s - $@ || echo '$(CASE_SRCS)' >$@

FORCE:

$(VSOCKSIM): $(patsubst %.c,$(B)/%.o,$(MAIN_SRCS)) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

run: deps
	@$(MAKE) --no-print-directory MODE=release $(VSOCKSIM)
	$(VSOCKSIM) run

# Each mode's suite runs under Kyua; a failing or broken case fails make.
test-one: $(TESTS) $(VSOCKSIM)
	@ci/kyua-run.sh $(B) $(MODE)

test: deps
	@$(MAKE) --no-print-directory MODE=release test-one
	@$(MAKE) --no-print-directory MODE=asan test-one
	@$(MAKE) --no-print-directory test-determinism

# The same traces from gcc and clang at -O0 and -O2 (four builds of vsocksim).
test-determinism: deps
	@BUILD_PREFIX='$(BUILD_PREFIX)' ci/determinism.sh

# Re-records traces/corpus after an intended change of behaviour.
corpus-update:
	@$(MAKE) --no-print-directory MODE=release $(VSOCKSIM) $(B)/fuzz/sim_prog
	ci/corpus-update.sh $(VSOCKSIM) $(B)/fuzz/sim_prog

clean:
	rm -rf build

# Each area's own targets (kernel image, fuzzing, benchmarks, ...).
-include $(sort $(wildcard mk/*.mk))

-include $(shell find build -name '*.d' 2>/dev/null)
