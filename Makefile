# The two README commands, and the steps they are made of.
#   make run    simulate the bundled 9-DC topology with every strategy, then run it
#               live on this machine (controller, sidecars, workers)
#   make test   install what is missing, build, lint, and run every test
BUILD ?= build
JOBS ?= $(shell nproc)
TOPOLOGY ?= examples/topologies/klonet-9dc.yaml
MODEL_MB ?= 100

.PHONY: run test deps configure build lint format bench clean

run: build
	$(BUILD)/bin/geostorm simulate --topology $(TOPOLOGY) --model-mb $(MODEL_MB)
	@echo
	$(BUILD)/bin/geostorm plan --topology $(TOPOLOGY) --model-mb $(MODEL_MB) --strategy netstorm
	@echo
	$(BUILD)/bin/geostorm local --topology $(TOPOLOGY) --model-mb 10 --iterations 10 --out results/local

test: build lint
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

deps:
	./scripts/deps.sh

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	cmake --build $(BUILD) -j $(JOBS)

lint: configure
	./scripts/lint.sh $(BUILD)

format:
	./scripts/lint.sh --fix

bench: build
	$(BUILD)/bin/planner_bench

clean:
	rm -rf $(BUILD)
