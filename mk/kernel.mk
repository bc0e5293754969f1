# The kernel target: our driver against the real Linux vhost-vsock, inside a
# QEMU/TCG guest built from Debian packages (ci/guest-image.sh, ci/qemu-run.sh).
#   make guest-image          build (or reuse) the guest image
#   make check-kernel-smoke   boot it and run khost/smoke_prog.c
#   make check-kernel         boot it and run the conformance cases with
#                             target=kernel; Kyua report, JUnit and the
#                             sim-vs-kernel differential in $(KERNEL_OUT)
# Nothing here opens vsock on the build machine: the programs run only in
# the guest, and refuse to start anywhere else.

GUEST_DIR ?= build/$(BUILD_PREFIX)guest
KERNEL_OUT ?= build/$(BUILD_PREFIX)conformance
GUEST_PAYLOAD := $(B)/guest-payload
QEMU_TIMEOUT ?= 600
# Only these kyua filters (program or program:case, comma-separated).
KERNEL_FILTER ?=
KERNEL_SMOKE := $(B)/vsocksim-kernel-smoke
# The conformance programs whose cases take the target: the same ATF
# programs make test runs on sim.
KERNEL_CONF_NAMES := cases_test scripts_test
KERNEL_CONF_PROGS := $(filter $(addprefix $(B)/conformance/,$(KERNEL_CONF_NAMES)),$(TESTS))
KERNEL_KYUAFILE := $(B)/kernel-kyua/Kyuafile

.PHONY: guest-image check-kernel-smoke check-kernel kernel-deps kernel-payload

kernel-deps:
	@ci/install-deps.sh build kernel

$(KERNEL_SMOKE): $(B)/khost/smoke_prog.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

# The tree that becomes /vsocksim in the guest: programs stripped of debug
# information (the initramfs stays small), the Kyuafiles, and under rootfs/
# the conformance sources and scripts at the absolute path the programs were
# built with (VSOCKSIM_SRCDIR). Copied afresh each time; the image is rebuilt
# only when its contents changed (ci/guest-image.sh).
# $(KERNEL_KYUAFILE) lists them for both runs: the guest's (under /vsocksim)
# and the sim run on the host (build root $(B)).
kernel-payload: $(KERNEL_SMOKE) $(KERNEL_CONF_PROGS)
	@mkdir -p $(dir $(KERNEL_KYUAFILE))conformance
	@printf 'syntax(2)\ntest_suite("vsocksim")\ninclude("conformance/Kyuafile")\n' >$(KERNEL_KYUAFILE)
	@{ printf 'syntax(2)\ntest_suite("vsocksim")\n'; \
	  for p in $(notdir $(KERNEL_CONF_PROGS)); do printf 'atf_test_program{name="%s"}\n' $$p; done; \
	} >$(dir $(KERNEL_KYUAFILE))conformance/Kyuafile
	@rm -rf $(GUEST_PAYLOAD) && mkdir -p $(GUEST_PAYLOAD)/bin/conformance
	@strip --strip-debug -o $(GUEST_PAYLOAD)/bin/$(notdir $(KERNEL_SMOKE)) $(KERNEL_SMOKE)
	@for p in $(KERNEL_CONF_PROGS); do \
	    strip --strip-debug -o $(GUEST_PAYLOAD)/bin/conformance/$$(basename $$p) $$p; done
	@cp -r $(dir $(KERNEL_KYUAFILE)). $(GUEST_PAYLOAD)/
	@src=$(GUEST_PAYLOAD)/rootfs$(CURDIR)/conformance; mkdir -p $$src/scripts; \
	    cp conformance/*.c conformance/*.h conformance/*.def conformance/*.txt $$src/ 2>/dev/null; \
	    cp conformance/scripts/* $$src/scripts/ 2>/dev/null || true

guest-image: kernel-deps
	@$(MAKE) --no-print-directory kernel-payload
	@ci/guest-image.sh $(GUEST_DIR) $(GUEST_PAYLOAD)

check-kernel-smoke: guest-image
	@ci/qemu-run.sh --timeout $(QEMU_TIMEOUT) --run smoke $(GUEST_DIR); rc=$$?; \
	out=$(GUEST_DIR)/results/output.txt; \
	if [ $$rc -eq 1 ]; then echo "check-kernel-smoke: FAILED (the guest did not finish)"; exit 1; fi; \
	grep -vE '^  rx ' $$out | tail -n 20; \
	if [ $$rc -eq 0 ] && grep -q '^SMOKE PASS' $$out; then echo "check-kernel-smoke: passed"; \
	else echo "check-kernel-smoke: FAILED (see $$out)"; exit 1; fi

check-kernel: guest-image
	@VSOCKSIM_KYUA_FILTER='$(KERNEL_FILTER)' ci/kernel-check.sh $(GUEST_DIR) $(KERNEL_OUT) $(B) $(KERNEL_KYUAFILE) $(QEMU_TIMEOUT)
