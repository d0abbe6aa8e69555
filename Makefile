# iop: the two set-up commands, packaging and the install story.
PREFIX ?= /usr/local
CARGO ?= cargo
TARGET_DIR ?= $(CURDIR)/target
# `make install PROFILE=debug` installs the debug build (the test script stages it that way).
PROFILE ?= release
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
OUT := $(TARGET_DIR)/$(PROFILE)
PYTHON ?= python3

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))

LIBDIR := $(DESTDIR)$(PREFIX)/lib
CMAKEDIR := $(LIBDIR)/cmake/iop

.PHONY: demo test header build-c build-cli man completions wheel install fuzz chaos

## Build and run the demo against an in-process emulator (or the real gateway with IOP_* set).
demo:
	$(CARGO) run --locked -q -p iop-cli -- demo

## Every test: Rust, C (valgrind), Python (pytest, stubtest), the vendor SDK against the emulator.
test:
	scripts/test

## Regenerate include/iop.h from ffi-c/src (cbindgen, pinned); `cargo test -p iop-ffi` fails on drift.
header:
	IOP_BLESS=1 $(CARGO) test --locked -q -p iop-ffi --test header

## libiop.so (soname libiop.so.MAJOR) and libiop.a.
build-c:
	$(CARGO) build --locked $(PROFILE_FLAG) -p iop-ffi

## The iop command.
build-cli:
	$(CARGO) build --locked $(PROFILE_FLAG) -p iop-cli

## The man page, generated from the command's own definitions: target/man/iop.1.
man: build-cli
	mkdir -p $(TARGET_DIR)/man
	$(OUT)/iop man > $(TARGET_DIR)/man/iop.1

## Shell completions: target/completions/{iop.bash,_iop,iop.fish}.
completions: build-cli
	mkdir -p $(TARGET_DIR)/completions
	$(OUT)/iop completions bash > $(TARGET_DIR)/completions/iop.bash
	$(OUT)/iop completions zsh > $(TARGET_DIR)/completions/_iop
	$(OUT)/iop completions fish > $(TARGET_DIR)/completions/iop.fish

## The Python wheel (abi3, CPython >= 3.9, manylinux, checked by maturin): target/wheels/.
wheel:
	scripts/build-wheel

## Every fuzz target for FUZZ_SECONDS (default 60) each; new corpus entries are kept in fuzz/corpus.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz $(FUZZ_SECONDS) --keep

## The chaos run: 2,000 sellers, 90 virtual days, 3 workers, faults, revocations and SIGKILLs, on
## each of CHAOS_STORES side by side (Redis and PostgreSQL under scripts/with-servers, with
## outages).
CHAOS_STORES ?= file redis postgres
CHAOS_ARGS ?= --sellers 2000 --days 90 --workers 3
chaos:
	$(CARGO) build --locked --release -p iop-emulator --bin iop-emulator
	$(CARGO) build --locked --release -p iop-core --features redis,postgres --example chaos
	scripts/chaos $(TARGET_DIR)/release/examples/chaos $(TARGET_DIR)/release/iop-emulator \
	    "$(CHAOS_STORES)" $(CHAOS_ARGS)

## Install libiop (versioned, with soname links), libiop.a, iop.h, iop.pc, the CMake package,
## the iop command, its man page and completions under $(PREFIX) (staged under $(DESTDIR) if set).
install: build-c man completions
	install -d $(LIBDIR)/pkgconfig $(CMAKEDIR) $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(OUT)/libiop.so $(LIBDIR)/libiop.so.$(VERSION)
	ln -sf libiop.so.$(VERSION) $(LIBDIR)/libiop.so.$(MAJOR)
	ln -sf libiop.so.$(MAJOR) $(LIBDIR)/libiop.so
	install -m 0644 $(OUT)/libiop.a $(LIBDIR)/libiop.a
	install -m 0644 include/iop.h $(DESTDIR)$(PREFIX)/include/iop.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' iop.pc.in > $(LIBDIR)/pkgconfig/iop.pc
	chmod 0644 $(LIBDIR)/pkgconfig/iop.pc
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
		cmake/iopConfig.cmake.in > $(CMAKEDIR)/iopConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
		cmake/iopConfigVersion.cmake.in > $(CMAKEDIR)/iopConfigVersion.cmake
	chmod 0644 $(CMAKEDIR)/iopConfig.cmake $(CMAKEDIR)/iopConfigVersion.cmake
	install -m 0755 $(OUT)/iop $(DESTDIR)$(PREFIX)/bin/iop
	install -m 0644 $(TARGET_DIR)/man/iop.1 $(DESTDIR)$(PREFIX)/share/man/man1/iop.1
	install -m 0644 $(TARGET_DIR)/completions/iop.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/iop
	install -m 0644 $(TARGET_DIR)/completions/_iop $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_iop
	install -m 0644 $(TARGET_DIR)/completions/iop.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/iop.fish
