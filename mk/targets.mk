# Top-level targets. Component fragments have filled BINS, TESTS and the *_DEPS lists.

# Debian packages each target needs; fragments append to these.
BUILD_DEPS += gcc make libc6-dev
TEST_DEPS += $(BUILD_DEPS) libcmocka-dev python3 clang-format cppcheck
LINT_DEPS += clang-format cppcheck
VALGRIND_DEPS += valgrind

.PHONY: all test check bench lint format valgrind deps-build deps-test clean
.DEFAULT_GOAL := all

all: $(BINS) $(UNIT_TESTS)

deps-build:
	@scripts/deps.sh build $(BUILD_DEPS)

deps-test:
	@scripts/deps.sh test $(TEST_DEPS)

TESTS += tests/lint.sh

# Suites are TAP producers: cmocka binaries and executable scripts listed in TESTS.
# tests/run.sh runs each one and ends with the line "N passed, N failed, N skipped".
test: deps-test
	@$(MAKE) --no-print-directory all
	@O=$(O) SAN=$(SAN) tests/run.sh $(TESTS)

check: test

lint:
	@scripts/deps.sh lint $(LINT_DEPS)
	@scripts/lint.sh

# No leaks in the unit tests under valgrind (a gate run by hand and before each stop).
valgrind: deps-test
	@scripts/deps.sh valgrind $(VALGRIND_DEPS)
	@$(MAKE) --no-print-directory $(UNIT_TESTS)
	@O=$(O) VALGRIND=1 tests/run.sh $(UNIT_TESTS)

clean:
	rm -rf build build-san

format:
	@scripts/deps.sh lint $(LINT_DEPS)
	@git ls-files --cached --others --exclude-standard '*.c' '*.h' | xargs clang-format -i
