# The conformance suite alone (conformance/: cases, packet scripts, the
# script parser's and the matrix's tests), under Kyua, on one target:
#   make conformance                          sim, seeds 1..3
#   make conformance CONF_TARGET=sim CONF_SEEDS=1-50
#   make conformance CONF_TARGET=kernel       skipped with the reason outside
#                                             the guest image
# CONF_SEEDS is N (seeds 1..N), A-B or a,b,c. Results: $(B)/conformance.db;
# the details of failed cases are printed.
CONF_TARGET ?= sim
CONF_SEEDS ?= 3
CONF_PROGS := $(addprefix $(B)/conformance/,cases_test scripts_test script_test matrix_test)

.PHONY: conformance

conformance: deps $(CONF_PROGS)
	@rm -f $(B)/conformance.db
	@kyua --config=none --logfile=$(B)/conformance.log \
	    -v test_suites.vsocksim.target=$(CONF_TARGET) -v test_suites.vsocksim.seeds=$(CONF_SEEDS) \
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
