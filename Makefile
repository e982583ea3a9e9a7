# tdexec — the two commands: `make demo` and `make test`.
# Everything else: make [build] | bench | fuzz | deb | format | format-check | clean

JOBS        ?= $(shell nproc)
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
# seconds per fuzz target: `make fuzz` and the short run inside `make test`
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGETS := fuzz_quote fuzz_pck_ext fuzz_x509lite fuzz_collateral fuzz_eventlog fuzz_rlp_abi fuzz_sms_http fuzz_ratls fuzz_layer fuzz_zip fuzz_oci fuzz_measure fuzz_qgs fuzz_jws

# The ctest entries run under ThreadSanitizer: those whose processes run
# threads (the HTTP server's and client's, the SMS's, the scheduler's and the
# workers' in the whole pool).  sms_limits is left out: it bounds RSS, which
# ThreadSanitizer's shadow memory multiplies.
TSAN_TESTS  ?= ^(test_server|test_http_keep|test_qgs|test_metrics|test_sms_store|test_verify|sms_secrets|sms_crash|sms_crash_release|market_cli|pool_e2e|metrics_scrape)$$
# What those entries run: the TSan tree builds only these.
TSAN_TARGETS ?= tdexec test_server test_http_keep test_qgs test_metrics test_sms_store test_verify crash_release

# PREBUILD=1 (set by `make test`): test-unit builds the sanitizer and fuzz
# trees in the background, at the lowest priority, while the normal
# build's tests run (they mostly wait on chains, services and timeouts,
# and leave the CPU idle), and waits for that build before it ends.  Each
# later stage still runs ninja itself, which finds its tree up to date or
# prints the error the background build met (its log: $(PREBUILD_LOG)).
PREBUILD     ?= 0
PREBUILD_LOG := $(BUILD)/prebuild.log
# (not $(MAKE) in the recipe: `make -n test-unit` would then run it, ctest included)
prebuild_make = $(MAKE)

.PHONY: all build deps test test-unit test-asan test-tsan fuzz-smoke demo bench fuzz deb format format-check clean \
	asan-build tsan-build fuzz-build

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DTDEXEC_WERROR=ON

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD) -j $(JOBS)

# The whole suite: the layout check, the normal build then the ASan+UBSan
# build, the services' tests under ThreadSanitizer, then a short fuzz run.
test: deps
	@$(MAKE) --no-print-directory PREBUILD=1 format-check test-unit test-asan test-tsan fuzz-smoke

test-unit: build
	@pb=; if [ "$(PREBUILD)" = 1 ]; then \
		nice -n 19 $(prebuild_make) --no-print-directory asan-build tsan-build fuzz-build \
			>$(PREBUILD_LOG) 2>&1 </dev/null & pb=$$!; fi; \
	echo "cd $(BUILD) && ctest --output-on-failure -j $(JOBS)"; \
	(cd $(BUILD) && ctest --output-on-failure -j $(JOBS)); rc=$$?; \
	[ -z "$$pb" ] || wait $$pb || echo "the background build failed: $(PREBUILD_LOG)"; \
	exit $$rc

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTDEXEC_WERROR=ON -DTDEXEC_SANITIZE=ON

asan-build: $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) -j $(JOBS)

$(TSAN_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTDEXEC_WERROR=ON -DTDEXEC_TSAN=ON

tsan-build: $(TSAN_BUILD)/build.ninja
	@ninja -C $(TSAN_BUILD) -j $(JOBS) $(TSAN_TARGETS)

test-asan:
	@$(MAKE) --no-print-directory asan-build
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Every process a test starts (services included, whose stderr goes to
# their logs) writes its reports under $(TSAN_BUILD)/tsan/: any report
# fails the target, printed in full.
test-tsan:
	@$(MAKE) --no-print-directory tsan-build
	@rm -rf $(TSAN_BUILD)/tsan && mkdir -p $(TSAN_BUILD)/tsan
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="log_path=$(abspath $(TSAN_BUILD))/tsan/report \
		second_deadlock_stack=1" \
		ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'; rc=$$?; \
	if ls tsan/report.* >/dev/null 2>&1; then cat tsan/report.*; \
		echo "ThreadSanitizer: reports from $$(ls tsan | wc -l) process(es), above"; exit 1; fi; \
	exit $$rc

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DTDEXEC_FUZZ=ON -DTDEXEC_WERROR=ON

fuzz-build: $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) -j $(JOBS) $(FUZZ_TARGETS)

# JOBS targets at a time, each for its whole time.
fuzz-smoke: fuzz-build
	@FUZZ_JOBS=$(JOBS) scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# Longer fuzzing: FUZZ_SECONDS per target (default 60; 600 for a real run).
fuzz: deps fuzz-build
	@FUZZ_JOBS=$(JOBS) scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: deps build
	@scripts/demo $(BUILD)/tdexec

bench: deps build
	@bench/run $(BUILD)

# The Debian package, $(BUILD)/tdexec_VERSION_ARCH.deb (packaging/build-deb).
deb: build
	@packaging/build-deb $(BUILD)/tdexec $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails on any file `make format` would change (part of make test).
format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
