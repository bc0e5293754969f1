# The guest target: the real Linux virtio-vsock guest driver (virtio-pci, in a
# QEMU/TCG guest) against our device, served by `vsocksim vhost-user`.
#   make vu-guest-image   the guest image (ci/guest-image.sh) with socat inside
#   make check-guest      boot it behind our backend; socat both ways, sha256-checked
# GUEST_BYTES (default 2 MiB) is the size each way; GUEST_TIMEOUT the hard limit.
# Host side: only Unix sockets and eventfds; vsock is opened only in the guest.

VU_GUEST_DIR ?= build/$(BUILD_PREFIX)guest-vhostuser
VU_GUEST_PAYLOAD := $(B)/vu-guest-payload
VU_GUEST_OUT := $(B)/check-guest
GUEST_BYTES ?= 2097152
GUEST_TIMEOUT ?= 300

.PHONY: vu-guest-deps vu-guest-payload vu-guest-image check-guest

vu-guest-deps:
	@ci/install-deps.sh build kernel
	@command -v socat >/dev/null || { echo "check-guest: installing socat" >&2; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends socat >/dev/null; }

# /vsocksim in the guest: socat (its shared libraries are copied by the
# image builder).
vu-guest-payload:
	@rm -rf $(VU_GUEST_PAYLOAD) && mkdir -p $(VU_GUEST_PAYLOAD)/bin
	@cp "$$(command -v socat)" $(VU_GUEST_PAYLOAD)/bin/socat

vu-guest-image: vu-guest-deps
	@$(MAKE) --no-print-directory vu-guest-payload
	@ci/guest-image.sh $(VU_GUEST_DIR) $(VU_GUEST_PAYLOAD)

check-guest: vu-guest-image
	@$(MAKE) --no-print-directory MODE=$(MODE) $(VSOCKSIM)
	@vhostuser/guest/check-guest.sh $(VSOCKSIM) $(VU_GUEST_DIR) $(VU_GUEST_OUT) $(GUEST_BYTES) $(GUEST_TIMEOUT)
