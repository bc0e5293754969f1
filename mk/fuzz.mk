# Fuzzing with AFL++ (fuzz/, traces/fuzz/). Included by the Makefile.
#   make fuzz [FUZZ_TARGET=sim|guest|device|parsers|empty] [FUZZ_SECONDS=600]
#       builds the harnesses with afl-clang-lto (FUZZ_CC=afl-clang-fast works
#       too; LTO runs the sim harness about 35% faster), persistent mode, runs
#       afl-fuzz on each for FUZZ_SECONDS (all four when no target), one after
#       the other; output in build/fuzz/NAME/. Fails when a run found crashes
#       (each one: fuzz/NAME_prog CRASH replays it; for sim, sim_prog --trace).
#   make fuzz FUZZ_MODE=asan   the same with ASan+UBSan in the harnesses
#                       (slower; catches memory errors the oracles miss)
#   make fuzz-smoke     the same for 60 s each (CI)
#   make fuzz-replay    the seed corpora and regression inputs through the
#                       plain harness programs built with ASan+UBSan; fails on
#                       any crash or finding
FUZZ_HARNESSES := sim guest device parsers
FUZZ_TARGET ?=
FUZZ_SECONDS ?= 600
FUZZ_CC ?= afl-clang-lto
FUZZ_OUT ?= build/$(BUILD_PREFIX)fuzz
FUZZ_MODE ?= release
FUZZ_AFL_B := build/$(BUILD_PREFIX)$(notdir $(FUZZ_CC))-$(FUZZ_MODE)
FUZZ_REPLAY_CC ?= clang
FUZZ_REPLAY_B := build/$(BUILD_PREFIX)$(FUZZ_REPLAY_CC)-asan
FUZZ_RUN := $(if $(FUZZ_TARGET),$(FUZZ_TARGET),$(FUZZ_HARNESSES))

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-build fuzz-progs

# The harnesses need only these modules: their own library keeps them
# buildable while other areas (conformance, vhostuser, ...) are in flux.
FUZZ_LIB_MODULES := ring transport driver device sim traces fuzz
FUZZ_LIB := $(B)/libvsocksim_fuzz.a
FUZZ_LIB_SRCS := $(filter $(addsuffix /%,$(FUZZ_LIB_MODULES)),$(LIB_SRCS)) conformance/script.c

$(FUZZ_LIB): $(patsubst %.c,$(B)/%.o,$(FUZZ_LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Every harness program of one build directory (any CC and MODE).
fuzz-progs: $(addprefix $(B)/fuzz/,$(addsuffix _prog,$(FUZZ_HARNESSES) empty))

.PRECIOUS: $(B)/fuzz/%_prog.o
$(B)/fuzz/%_prog: $(B)/fuzz/%_prog.o $(FUZZ_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

fuzz-build:
	@ci/install-deps.sh build fuzz
	@AFL_LLVM_DENYLIST=$(CURDIR)/fuzz/afl-denylist.txt $(MAKE) --no-print-directory CC=$(FUZZ_CC) MODE=$(FUZZ_MODE) fuzz-progs

fuzz: fuzz-build
	@mkdir -p $(FUZZ_OUT)
	@fail=0; for t in $(FUZZ_RUN); do \
	    fuzz/fuzz-run.sh $$t $(FUZZ_SECONDS) $(FUZZ_OUT) $(FUZZ_AFL_B)/fuzz/$${t}_prog || fail=1; \
	done; exit $$fail

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

fuzz-replay:
	@ci/install-deps.sh build
	@$(MAKE) --no-print-directory CC=$(FUZZ_REPLAY_CC) MODE=asan fuzz-progs
	@fail=0; for t in $(FUZZ_HARNESSES); do \
	    files=$$(find traces/fuzz/$$t traces/fuzz/regressions/$$t -type f 2>/dev/null | sort); \
	    [ -n "$$files" ] || { echo "fuzz-replay: $$t: no inputs"; fail=1; continue; }; \
	    n=$$(echo "$$files" | wc -l); \
	    if $(FUZZ_REPLAY_B)/fuzz/$${t}_prog --keep-going $$files > $(FUZZ_OUT)-replay-$$t.log 2>&1; \
	    then echo "fuzz-replay: $$t: $$n inputs, no finding"; \
	    else echo "fuzz-replay: $$t: FAILED (see $(FUZZ_OUT)-replay-$$t.log)"; \
	         grep -E 'FINDING|ERROR|runtime error' $(FUZZ_OUT)-replay-$$t.log | head -5; fail=1; fi; \
	done; exit $$fail
