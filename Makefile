# ssmbench build, run and test targets. See README.md.
GO      ?= go
PYTHON  ?= python3
BIN     ?= bin
# go-nvml's C headers print ~150 deprecation warnings without this.
export CGO_CFLAGS ?= -O2 -Wno-deprecated-declarations

.PHONY: all build run test test-go test-py vet fuzz bench gpu-test gpu-build clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN)/ssmbench ./cmd/ssmbench

# The main job: a GPU sweep where a CUDA GPU and the PyTorch worker are
# available, else the CPU reference sweep of the tiny configs.
run: build
	./$(BIN)/ssmbench run --auto

# The test command (CI runs exactly this through .ci/run).
test: vet test-go test-py

vet:
	$(GO) vet ./...

test-go:
	$(GO) test ./...

# Python parts of the GPU worker that need only the standard library.
test-py:
	$(PYTHON) -m unittest discover -s runners/torch/tests -t runners/torch

# GPU tests of the PyTorch worker (Triton kernels vs PyTorch, CUDA-graph and
# Triton paths vs the oracle and the Go fixtures, memory cap): run on a CUDA
# machine; without one they fail rather than skip.
gpu-test:
	SSMBENCH_REQUIRE_GPU=1 $(PYTHON) -m unittest discover -s runners/torch/tests -t runners/torch -v

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

clean:
	rm -rf $(BIN)
