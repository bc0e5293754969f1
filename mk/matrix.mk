# The requirement matrix of the conformance suite (conformance/matrix.c).
#   make matrix        build the tool, print the matrix (requirement -> cases,
#                      targets; coverage per section, level and overall) and
#                      write build/conformance/matrix.md and matrix.tsv
#   make matrix-check  the same check as CI would make: fails on malformed
#                      lines, duplicate or unknown IDs and on MUST / MUST NOT
#                      requirements that no case or script checks
MATRIX := $(B)/vsocksim-matrix
MATRIX_OUT := build/conformance

.PHONY: matrix matrix-check

$(MATRIX): $(B)/conformance/matrix_prog.o $(CASE_OBJS) $(LIB) $(CASE_LIST)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter-out $(CASE_LIST),$^) -lm

matrix: $(MATRIX)
	@mkdir -p $(MATRIX_OUT)
	$(MATRIX) --md $(MATRIX_OUT)/matrix.md --tsv $(MATRIX_OUT)/matrix.tsv

matrix-check: $(MATRIX)
	$(MATRIX) --check --quiet
