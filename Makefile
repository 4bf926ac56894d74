# The two README commands, and the steps they are made of.
#   make run    simulate the bundled 9-DC topology with every strategy, then run
#               star and netstorm live on it, as an emulated WAN of namespaces
#   make test   install what is missing, build, lint, and run every test; then, in
#               a clang build with ASan and UBSan, the unit and integration suites
#               and each fuzz target for 30 s
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_SECONDS ?= 30
RUNS ?= 10
JOBS ?= $(shell nproc)
TOPOLOGY ?= examples/topologies/klonet-9dc.yaml
MODEL_MB ?= 100

.PHONY: run test deps configure build lint fuzz fuzz-build asan-configure asan-build test-asan tsan-configure test-tsan flakes soak format bench bench-planner bench-wan bench-meter bench-operator bench-training clean

run: build
	$(BUILD)/bin/geostorm simulate --topology $(TOPOLOGY) --model-mb $(MODEL_MB)
	@echo
	$(BUILD)/bin/geostorm plan --topology $(TOPOLOGY) --model-mb $(MODEL_MB) --strategy netstorm
	@echo
	./scripts/live_run.sh $(BUILD)

test: build lint asan-build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan fuzz

deps:
	./scripts/deps.sh

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# One clang build with ASan and UBSan (in build-asan): the whole project but the
# benchmarks, with the test processes it starts, and the parsers' libFuzzer targets.
asan-configure: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEOSTORM_SANITIZE=address,undefined -DGEOSTORM_FUZZ=ON

asan-build: asan-configure
	cmake --build $(ASAN_BUILD) -j $(JOBS)

fuzz-build: asan-configure
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target fuzz_targets

# The unit and integration suites of real processes, under ASan and UBSan (what
# LSan may not count as a leak, and why: tests/lsan.supp).
test-asan: asan-build
	cd $(ASAN_BUILD) && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ctest --output-on-failure -j $(JOBS) -L 'unit|integration' \
	  -LE 'e2e|root|training|helm|dashboards'

# The unit and integration suites under TSan, in a clang build of their own
# (build-tsan). The libraries from Debian are not instrumented: tests/tsan.supp says
# what is suppressed at their boundaries, and why. Left out: the tests of the
# operator against the API emulator and of the Prometheus link source, where
# cpprest's threads touch our strings through uninstrumented libstdc++ frames that
# end the stack before any cpprest frame a suppression could name.
TSAN_CPPREST_TESTS = KubeClient|JobControllerTest|LiveControllerTest|OperatorFailover|TopologyPolicyStoreTest|^Prometheus

tsan-configure: deps
	@[ -f $(TSAN_BUILD)/build.ninja ] || CC=clang CXX=clang++ cmake -S . -B $(TSAN_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEOSTORM_SANITIZE=thread

test-tsan: tsan-configure
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|integration' -LE 'e2e|root|training|helm|dashboards|soak' \
	  -E '$(TSAN_CPPREST_TESTS)'

# Each libFuzzer target for FUZZ_SECONDS from its checked-in corpus (tests/fuzz);
# `make fuzz FUZZ_SECONDS=600` for a long run.
fuzz: fuzz-build
	cd $(ASAN_BUILD) && GEOSTORM_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -j $(JOBS) -L fuzz

# The integration suite, root tests included, RUNS times in a row under ctest -j2
# (about 7 min a run): how often each test failed.
flakes: build
	./scripts/flake_loop.sh $(BUILD) $(RUNS)

# The soak (root, 30 min): a job on the emulated dynamic WAN under random faults,
# checked for exact sums, consistent policies and steady memory: bench/results/soak.*
soak: build
	python3 tests/soak/soak.py --build $(BUILD) --minutes 30 --out bench/results

lint: build
	./scripts/lint.sh $(BUILD)

format:
	./scripts/lint.sh --fix

bench: build
	$(BUILD)/bin/planner_bench
	$(BUILD)/bin/planner_scale --full-max-dcs 0 --full-max-physical-dcs 0
	$(BUILD)/bin/aggregation_bench
	$(BUILD)/bin/hop_bench --bin-dir $(BUILD)/bin
	python3 bench/large_model.py --build $(BUILD) --model-mb 1024 --runs 3 --out bench/results

# The head-to-head on the emulated WAN (root, ~15 min): bench/results/klonet-9dc.*
bench-wan: build
	python3 bench/wan/head_to_head.py --build $(BUILD) --star-placements --ablation --iterations 8 --out bench/results

# Planning time and quality from 16 to 256 DCs, against the full method up to 32 (meshes) and 64 (sparse WANs) (~10 min): bench/results/planner-scale.*
bench-planner: build
	python3 bench/planner_scale.py --build $(BUILD) --out bench/results

# The passive meter against iperf3 as one link's rate steps (root, ~2 min): bench/results/meter-step.*
bench-meter: build
	python3 bench/wan/meter_step.py --build $(BUILD) --out bench/results

# The operator at scale on API emulators (~1 min): bench/results/operator-scale.json
bench-operator: build
	python3 bench/operator/scale_bench.py --build $(BUILD) --out bench/results

# Time to accuracy on the emulated klonet-9dc (root): bench/results/training-klonet-9dc.*
bench-training: build
	python3 bench/training/time_to_accuracy.py --build $(BUILD) --out bench/results/training-klonet-9dc

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
