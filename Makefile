# tdexec — the two commands: `make demo` and `make test`.
# Everything else: make [build] | bench | fuzz | format | clean

JOBS        ?= $(shell nproc)
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
# seconds per fuzz target: `make fuzz` and the short run inside `make test`
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGETS := fuzz_quote fuzz_pck_ext fuzz_x509lite fuzz_collateral fuzz_eventlog fuzz_rlp_abi fuzz_sms_http fuzz_ratls fuzz_layer fuzz_zip

.PHONY: all build deps test test-unit test-asan fuzz-smoke demo bench fuzz format clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DTDEXEC_WERROR=ON

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD) -j $(JOBS)

# The whole suite, normal build then ASan+UBSan build, then a short fuzz run.
test: deps
	@$(MAKE) --no-print-directory test-unit test-asan fuzz-smoke

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@[ -f $(ASAN_BUILD)/build.ninja ] || cmake -S . -B $(ASAN_BUILD) -G Ninja \
		-DCMAKE_BUILD_TYPE=Debug -DTDEXEC_WERROR=ON -DTDEXEC_SANITIZE=ON
	@ninja -C $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DTDEXEC_FUZZ=ON -DTDEXEC_WERROR=ON

fuzz-build: $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) -j $(JOBS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# Longer fuzzing: FUZZ_SECONDS per target (default 60; 600 for a real run).
fuzz: deps fuzz-build
	@scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: deps build
	@scripts/demo $(BUILD)/tdexec

bench: deps build
	@bench/run $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
