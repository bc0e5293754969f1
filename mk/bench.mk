# Benchmarks (bench/), the trace views' extra dependencies, and their targets.
#   make bench         every benchmark, a table, build/bench/results.tsv and scaling.svg
#   make bench-smoke   the same programs with tiny parameters (seconds; for CI)
#   make check-views   installs tshark and xmllint, runs the pcap and chart tests
# Benchmarks are not tests: `make test` does not run them.

# `vsocksim pcap` writes through libpcap (libpcap-dev). Without it vsocksim
# still builds and `vsocksim pcap` says what is missing; traces/pcap.o is
# rebuilt when libpcap comes or goes (the stamp's name changes).
PCAP_SO := $(wildcard $(shell $(CC) -print-file-name=libpcap.so 2>/dev/null))
PCAP_STAMP := $(B)/.pcap-$(if $(PCAP_SO),yes,no)
$(PCAP_STAMP):
	@mkdir -p $(dir $@) && rm -f $(B)/.pcap-* && touch $@
$(B)/traces/pcap.o: $(PCAP_STAMP)
$(VSOCKSIM): $(PCAP_SO)
$(B)/traces/views_test: $(PCAP_SO)

BENCH_PROGS := $(patsubst bench/%_prog.c,$(B)/bench/%,$(wildcard bench/*_prog.c))
BENCH_B := build/$(BUILD_PREFIX)$(CCNAME)-release

$(B)/bench/%_prog.o: ALL_CFLAGS += -D_GNU_SOURCE -pthread

$(BENCH_PROGS): $(B)/bench/%: $(B)/bench/%_prog.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ -lm

.PHONY: bench bench-smoke bench-progs
bench-progs: $(BENCH_PROGS) $(VSOCKSIM)

bench:
	@ci/install-deps.sh build bench
	@$(MAKE) --no-print-directory MODE=release bench-progs
	@bench/run.sh $(BENCH_B) full

bench-smoke:
	@ci/install-deps.sh build
	@$(MAKE) --no-print-directory MODE=release bench-progs
	@bench/run.sh $(BENCH_B) smoke

# The views' tests with their tools present (tshark, xmllint, libpcap): they
# run in `make test` too, but skip there when a tool is missing; here a
# missing tool fails them (views_required).
.PHONY: check-views
check-views:
	@ci/install-deps.sh build views
	@$(MAKE) --no-print-directory MODE=release $(BENCH_B)/vsocksim \
	    $(patsubst traces/%.c,$(BENCH_B)/traces/%,$(filter traces/%_test.c,$(TEST_SRCS)))
	@kyua --config=none --logfile=$(BENCH_B)/views-kyua.log -v test_suites.vsocksim.views_required=1 \
	    test --kyuafile=traces/Kyuafile --build-root=$(BENCH_B)/traces \
	    --results-file=$(BENCH_B)/views-results.db views_test
