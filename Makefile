# iop: the two set-up commands and the C install story.
PREFIX ?= /usr/local
CARGO ?= cargo
TARGET_DIR ?= $(CURDIR)/target

.PHONY: demo test header build-c install

## Build and run the demo against an in-process emulator (or the real gateway with IOP_* set).
demo:
	$(CARGO) run --locked -q -p iop-cli -- demo

## Every test: Rust, C (valgrind), Python (pytest, stubtest), the vendor SDK against the emulator.
test:
	scripts/test
