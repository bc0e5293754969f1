# The guest target: the real Linux virtio-vsock guest driver (virtio-pci, in a
# QEMU/TCG guest) against our device, served by `vsocksim vhost-user`.
#   make vu-guest-image   the guest image (ci/guest-image.sh) with socat and
#                         the conformance payload (mk/conformance.mk) inside
#   make check-guest      boot it behind our backend: socat both ways,
#                         sha256-checked; then the conformance cases with
#                         target=guest (the host side driven over the
#                         backend's control channel); Kyua report, JUnit and
#                         the referee's sim-vs-guest differential in
#                         $(KERNEL_OUT)
# KERNEL=6.1 (default) or 6.12: the Debian kernel of the guest
# (mk/conformance.mk); each has its own image, payload and outputs.
# GUEST_BYTES (default 2 MiB) is the socat size each way; GUEST_TIMEOUT the
# hard limit; GUEST_FILTER limits the cases (kyua filters, comma-separated).
# Host side: only Unix sockets and eventfds; vsock is opened only in the guest.

VU_GUEST_DIR ?= build/$(BUILD_PREFIX)guest-vhostuser-$(KERNEL)
VU_GUEST_PAYLOAD := $(B)/vu-guest-payload-$(KERNEL)
VU_GUEST_OUT := $(B)/check-guest-$(KERNEL)
GUEST_BYTES ?= 2097152
GUEST_TIMEOUT ?= 600
GUEST_FILTER ?=

.PHONY: vu-guest-deps vu-guest-payload vu-guest-image check-guest

vu-guest-deps:
	@ci/install-deps.sh build kernel
	@command -v socat >/dev/null || { echo "check-guest: installing socat" >&2; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends socat >/dev/null; }

# /vsocksim in the guest: the conformance payload and socat (shared
# libraries are copied by the image builder).
vu-guest-payload: $(CONF_VM_PROGS)
	$(call conf-vm-payload,$(VU_GUEST_PAYLOAD))
	@cp "$$(command -v socat)" $(VU_GUEST_PAYLOAD)/bin/socat

vu-guest-image: vu-guest-deps
	@$(MAKE) --no-print-directory vu-guest-payload
	@ci/guest-image.sh --kernel $(KERNEL) $(VU_GUEST_DIR) $(VU_GUEST_PAYLOAD)

check-guest: vu-guest-image
	@$(MAKE) --no-print-directory MODE=$(MODE) $(VSOCKSIM) $(REFEREE)
	@VSOCKSIM_KYUA_FILTER='$(GUEST_FILTER)' VSOCKSIM_LINUX=$(KERNEL) VSOCKSIM_REFEREE=$(REFEREE) vhostuser/guest/check-guest.sh $(VSOCKSIM) \
	    $(VU_GUEST_DIR) $(VU_GUEST_OUT) $(GUEST_BYTES) $(GUEST_TIMEOUT) $(KERNEL_OUT) $(B) $(CONF_VM_KYUAFILE)
