# The two commands of the README: `make run` (the demo, end to end) and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh).

RANKS ?= 2
SWIFT_BUILD_FLAGS ?=
BIN := .build/release/tooltune
# mpirun as root needs these; --oversubscribe lets ranks outnumber cores; --bind-to none lets each rank
# use several BLAS threads (by default Open MPI pins a rank to one core).
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
MPIRUN := mpirun --oversubscribe --bind-to none

.PHONY: deps test-deps build test run doctor clean

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	swift build -c release $(SWIFT_BUILD_FLAGS)

# Tests that run the binary (training, MPI) use the release build: debug kernels are ~200x slower.
test: test-deps
	swift build -c release --product tooltune $(SWIFT_BUILD_FLAGS)
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	TOOLTUNE_BIN=$(CURDIR)/$(BIN) swift test --skip-build $(SWIFT_BUILD_FLAGS)

doctor: build
	$(MPIRUN) -n $(RANKS) $(BIN) doctor

# The demo from scratch: check the ranks, prepare the demo data, train on $(RANKS) ranks, then score the
# first and the last checkpoint on the held-out demo steps and queries and print them side by side.
run: build
	$(MPIRUN) -n $(RANKS) $(BIN) doctor --threads 1
	rm -rf runs/demo
	$(BIN) prepare jobs/demo.yaml
	$(MPIRUN) -n $(RANKS) $(BIN) train jobs/demo.yaml
	$(MPIRUN) -n $(RANKS) $(BIN) eval jobs/demo.yaml --checkpoints runs/demo/checkpoints --first-last

clean:
	rm -rf .build runs/demo
