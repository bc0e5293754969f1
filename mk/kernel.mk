# The kernel target: our driver against the real Linux vhost-vsock, inside a
# QEMU/TCG guest built from Debian packages (ci/guest-image.sh, ci/qemu-run.sh).
#   make guest-image          build (or reuse) the guest image
#   make check-kernel-smoke   boot it and run khost/smoke_prog.c
#   make check-kernel         boot it and run the conformance cases with
#                             target=kernel; Kyua report, JUnit and the
#                             referee's sim-vs-kernel differential in
#                             $(KERNEL_OUT)
# KERNEL=6.1 (default) or 6.12 chooses the Debian kernel the guest boots
# (mk/conformance.mk); each has its own image, payload and outputs.
# Nothing here opens vsock on the build machine: the programs run only in
# the guest, and refuse to start anywhere else.

GUEST_DIR ?= build/$(BUILD_PREFIX)guest-$(KERNEL)
GUEST_PAYLOAD := $(B)/guest-payload-$(KERNEL)
QEMU_TIMEOUT ?= 600
# Only these kyua filters (program or program:case, comma-separated).
KERNEL_FILTER ?=
KERNEL_SMOKE := $(B)/vsocksim-kernel-smoke

.PHONY: guest-image check-kernel-smoke check-kernel kernel-deps kernel-payload

kernel-deps:
	@ci/install-deps.sh build kernel

$(KERNEL_SMOKE): $(B)/khost/smoke_prog.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

# The tree that becomes /vsocksim in the guest: the smoke program and the
# conformance payload (CONF_VM_PROGS, mk/conformance.mk). Copied afresh each
# time; the image is rebuilt only when its contents changed
# (ci/guest-image.sh).
kernel-payload: $(KERNEL_SMOKE) $(CONF_VM_PROGS)
	$(call conf-vm-payload,$(GUEST_PAYLOAD))
	@strip --strip-debug -o $(GUEST_PAYLOAD)/bin/$(notdir $(KERNEL_SMOKE)) $(KERNEL_SMOKE)

guest-image: kernel-deps
	@$(MAKE) --no-print-directory kernel-payload
	@ci/guest-image.sh --kernel $(KERNEL) $(GUEST_DIR) $(GUEST_PAYLOAD)

check-kernel-smoke: guest-image
	@ci/qemu-run.sh --timeout $(QEMU_TIMEOUT) --run smoke $(GUEST_DIR); rc=$$?; \
	out=$(GUEST_DIR)/results/output.txt; \
	if [ $$rc -eq 1 ]; then echo "check-kernel-smoke: FAILED (the guest did not finish)"; exit 1; fi; \
	grep -vE '^  rx ' $$out | tail -n 20; \
	if [ $$rc -eq 0 ] && grep -q '^SMOKE PASS' $$out; then echo "check-kernel-smoke: passed"; \
	else echo "check-kernel-smoke: FAILED (see $$out)"; exit 1; fi

check-kernel: guest-image $(REFEREE)
	@VSOCKSIM_KYUA_FILTER='$(KERNEL_FILTER)' VSOCKSIM_LINUX=$(KERNEL) VSOCKSIM_REFEREE=$(REFEREE) ci/kernel-check.sh $(GUEST_DIR) $(KERNEL_OUT) $(B) $(CONF_VM_KYUAFILE) $(QEMU_TIMEOUT)
