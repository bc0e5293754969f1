# The conformance suite alone (conformance/: cases, packet scripts, the
# script parser's and the matrix's tests), under Kyua, on one target:
#   make conformance                          sim, seeds 1..3
#   make conformance CONF_TARGET=sim CONF_SEEDS=1-50
#   make conformance CONF_TARGET=kernel       skipped with the reason outside
#                                             the guest image
# CONF_SEEDS is N (seeds 1..N), A-B or a,b,c; CONF_LINUX the Linux profile
# (6.1 or 6.12) the sim target's model follows. Results: $(B)/conformance.db;
# the details of failed cases are printed.
CONF_TARGET ?= sim
CONF_SEEDS ?= 3
CONF_LINUX ?= 6.1
CONF_PROGS := $(addprefix $(B)/conformance/,cases_test scripts_test script_test matrix_test referee_test)

.PHONY: conformance

# The test programs that list the C cases link the case objects themselves
# (CASE_OBJS, Makefile): cases_test runs them, matrix_test checks the real
# tree's matrix.
CASE_TESTS := $(addprefix $(B)/conformance/,cases_test matrix_test)
$(CASE_TESTS): $(B)/conformance/%: $(B)/conformance/%.o $(CASE_OBJS) $(B)/ci/atf_lsan.o $(TESTLIB) $(LIB) \
               $(CASE_LIST)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter-out $(CASE_LIST),$^) $(ATF_LIBS) -lm

conformance: deps $(CONF_PROGS)
	@rm -f $(B)/conformance.db
	@kyua --config=none --logfile=$(B)/conformance.log \
	    -v test_suites.vsocksim.target=$(CONF_TARGET) -v test_suites.vsocksim.seeds=$(CONF_SEEDS) \
	    -v test_suites.vsocksim.linux=$(CONF_LINUX) \
	    test --kyuafile=conformance/Kyuafile --build-root=$(B)/conformance \
	    --results-file=$(B)/conformance.db >$(B)/conformance.out 2>&1; \
	rc=$$?; \
	grep -vE -e '->  passed' $(B)/conformance.out; \
	if [ $$rc -ne 0 ]; then \
	    kyua --config=none --logfile=$(B)/conformance.log report --verbose \
	        --results-file=$(B)/conformance.db --results-filter=broken,failed 2>/dev/null | \
	        sed -n '/^===> Failed tests/,$$p;/^===> Broken tests/,$$p' | head -n 200; \
	fi; \
	exit $$rc

# ---- the referee (conformance/referee.h) ----
# Lines a real target's results up with the sim run beside it, verdicts and
# transcripts, against conformance/known-differences.txt: make check-kernel
# and make check-guest run it; its tests (referee_test) are in make test.
REFEREE := $(B)/vsocksim-referee

$(REFEREE): $(B)/conformance/referee_prog.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

# ---- the conformance payload of the QEMU guests (mk/kernel.mk, mk/guest.mk) ----
# The programs whose cases take the target: the same ATF programs make test
# runs on sim. $(CONF_VM_KYUAFILE) lists them for the guests' runs (under
# /vsocksim) and for the sim run beside them on the host (build root $(B)).
# KERNEL (6.1, the default, or 6.12) is the Debian kernel both guests boot
# (ci/guest-image.sh --kernel) and the Linux profile the sim runs beside them
# take (the Kyua config variable `linux`, in the guests too). Each kernel has
# its own images, payloads and outputs: results, reports and the referee's
# differentials of both guests go to $(KERNEL_OUT), one directory per kernel.
KERNEL ?= 6.1
ifeq ($(filter 6.1 6.12,$(KERNEL)),)
$(error KERNEL must be 6.1 or 6.12, not '$(KERNEL)')
endif
KERNEL_OUT ?= build/$(BUILD_PREFIX)conformance/linux-$(KERNEL)
CONF_VM_NAMES := cases_test scripts_test
CONF_VM_PROGS := $(filter $(addprefix $(B)/conformance/,$(CONF_VM_NAMES)),$(TESTS))
CONF_VM_KYUAFILE := $(B)/kernel-kyua/Kyuafile

# $(call conf-vm-payload,DIR): DIR made afresh with bin/conformance/ (the
# programs stripped of debug information: the initramfs stays small), the
# Kyuafiles, kyua-vars (the config variables of the guest's Kyua run:
# linux=$(KERNEL)), and under rootfs/ the conformance sources and scripts at
# the absolute path the programs were built with (VSOCKSIM_SRCDIR).
define conf-vm-payload
@mkdir -p $(dir $(CONF_VM_KYUAFILE))conformance
@printf 'syntax(2)\ntest_suite("vsocksim")\ninclude("conformance/Kyuafile")\n' >$(CONF_VM_KYUAFILE)
@{ printf 'syntax(2)\ntest_suite("vsocksim")\n'; \
  for p in $(notdir $(CONF_VM_PROGS)); do printf 'atf_test_program{name="%s"}\n' $$p; done; \
} >$(dir $(CONF_VM_KYUAFILE))conformance/Kyuafile
@rm -rf $(1) && mkdir -p $(1)/bin/conformance
@for p in $(CONF_VM_PROGS); do \
    strip --strip-debug -o $(1)/bin/conformance/$$(basename $$p) $$p; done
@cp -r $(dir $(CONF_VM_KYUAFILE)). $(1)/
@echo 'linux=$(KERNEL)' >$(1)/kyua-vars
@src=$(1)/rootfs$(CURDIR)/conformance; mkdir -p $$src/scripts; \
    cp conformance/*.c conformance/*.h conformance/*.txt $$src/ 2>/dev/null; \
    cp conformance/scripts/* $$src/scripts/ 2>/dev/null || true
endef
