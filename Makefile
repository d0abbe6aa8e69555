# iop: the two set-up commands, packaging and the install story.
PREFIX ?= /usr/local
# Where libraries go, under PREFIX: `lib`, or a multiarch directory such as
# `lib/x86_64-linux-gnu` (the Debian packages use that one).
LIBSUBDIR ?= lib
CARGO ?= cargo
# Where cargo puts its output: asked of cargo itself, so CARGO_TARGET_DIR, CARGO_BUILD_TARGET_DIR
# and a `build.target-dir` in a cargo config are all honoured (a shared target directory is
# common with CI caches). Computed once per make run.
ifeq ($(origin TARGET_DIR),undefined)
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps --locked 2>/dev/null | \
	$(or $(PYTHON),python3) -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ifeq ($(TARGET_DIR),)
$(error cannot find cargo's target directory (`cargo metadata` failed))
endif
endif
# Every cargo run and script below uses that directory (also when TARGET_DIR is given to make).
export CARGO_TARGET_DIR := $(TARGET_DIR)
# `make install PROFILE=debug` installs the debug build (the test script stages it that way).
PROFILE ?= release
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
OUT := $(TARGET_DIR)/$(PROFILE)
PYTHON ?= python3

# The one version of everything (wheel, sdist, debs, libiop, the CMake and pkg-config files): the
# workspace's [workspace.package] version in Cargo.toml.
VERSION := $(shell scripts/version)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))

LIBDIR := $(DESTDIR)$(PREFIX)/$(LIBSUBDIR)
CMAKEDIR := $(LIBDIR)/cmake/iop
# From the CMake package's directory (LIBSUBDIR/cmake/iop) back up to PREFIX: one `..` per part.
empty :=
space := $(empty) $(empty)
CMAKE_UP := $(subst $(space),/,$(foreach part,$(subst /, ,$(LIBSUBDIR)) cmake iop,..))

.PHONY: demo test header build build-c build-cli build-emulator man completions wheel sdist deb install \
	fuzz chaos bench

## Build and run the demo against an in-process emulator (or the real gateway with IOP_* set).
## The first build compiles the workspace (a few minutes on 2 cores); later runs start at once.
demo:
	@test -x $(TARGET_DIR)/debug/iop || echo "make demo: building the iop command (debug) in" \
	    "$(TARGET_DIR); the first build takes about 2-5 minutes, later ones a few seconds" >&2
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

## The offline gateway, iop-emulator (installed beside iop so C users can test without Rust).
build-emulator:
	$(CARGO) build --locked $(PROFILE_FLAG) -p iop-emulator --bin iop-emulator

## Everything `make install` installs, in one cargo run: built together, the three share one
## build of iop-core and its dependencies (the same one tests/c builds), where separate runs
## would each unify features differently and rebuild.
build:
	$(CARGO) build --locked $(PROFILE_FLAG) -p iop-ffi -p iop-cli -p iop-emulator

## The man page, generated from the command's own definitions: target/man/iop.1.
man: build
	mkdir -p $(TARGET_DIR)/man
	$(OUT)/iop man > $(TARGET_DIR)/man/iop.1

## Shell completions: target/completions/{iop.bash,_iop,iop.fish}.
completions: build
	mkdir -p $(TARGET_DIR)/completions
	$(OUT)/iop completions bash > $(TARGET_DIR)/completions/iop.bash
	$(OUT)/iop completions zsh > $(TARGET_DIR)/completions/_iop
	$(OUT)/iop completions fish > $(TARGET_DIR)/completions/iop.fish

## The portable Python wheel (abi3, CPython >= 3.9, manylinux2014: glibc >= 2.17; built with
## zig as the linker, checked by maturin and auditwheel): $(TARGET_DIR)/wheels/.
wheel:
	scripts/build-wheel

## The source distribution (maturin sdist; the crates the Python package builds from, no tests):
## $(TARGET_DIR)/wheels/iop_sdk-VERSION.tar.gz.
sdist:
	scripts/build-sdist

## Debian packages libiop0, libiop-dev and iop (dpkg-deb from a staged `make install`, checked
## by lintian): $(TARGET_DIR)/debian/. PROFILE=debug packages the debug build (the tests do).
deb:
	scripts/build-deb $(PROFILE)

## The quick set of benchmarks (bench/README.md): builds what it measures (release), then prints
## one table of figures beside the vendor's Python SDK measured in the same run.
bench:
	bench/run

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
	$(CARGO) build --locked --release -p iop-chaos
	scripts/chaos $(TARGET_DIR)/release/chaos $(TARGET_DIR)/release/iop-emulator \
	    "$(CHAOS_STORES)" $(CHAOS_ARGS)

## Install libiop (versioned, with soname links), libiop.a, iop.h, iop.pc, the CMake package,
## the iop command, its man page and completions, and iop-emulator under $(PREFIX) (staged under
## $(DESTDIR) if set).
install: build man completions
	install -d $(LIBDIR)/pkgconfig $(CMAKEDIR) $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(OUT)/libiop.so $(LIBDIR)/libiop.so.$(VERSION)
	ln -sf libiop.so.$(VERSION) $(LIBDIR)/libiop.so.$(MAJOR)
	ln -sf libiop.so.$(MAJOR) $(LIBDIR)/libiop.so
	install -m 0644 $(OUT)/libiop.a $(LIBDIR)/libiop.a
	install -m 0644 include/iop.h $(DESTDIR)$(PREFIX)/include/iop.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBSUBDIR@|$(LIBSUBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		iop.pc.in > $(LIBDIR)/pkgconfig/iop.pc
	chmod 0644 $(LIBDIR)/pkgconfig/iop.pc
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
		-e 's|@LIBSUBDIR@|$(LIBSUBDIR)|g' -e 's|@CMAKE_UP@|$(CMAKE_UP)|g' \
		cmake/iopConfig.cmake.in > $(CMAKEDIR)/iopConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
		cmake/iopConfigVersion.cmake.in > $(CMAKEDIR)/iopConfigVersion.cmake
	chmod 0644 $(CMAKEDIR)/iopConfig.cmake $(CMAKEDIR)/iopConfigVersion.cmake
	install -m 0755 $(OUT)/iop $(DESTDIR)$(PREFIX)/bin/iop
	install -m 0755 $(OUT)/iop-emulator $(DESTDIR)$(PREFIX)/bin/iop-emulator
	install -m 0644 $(TARGET_DIR)/man/iop.1 $(DESTDIR)$(PREFIX)/share/man/man1/iop.1
	install -m 0644 $(TARGET_DIR)/completions/iop.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/iop
	install -m 0644 $(TARGET_DIR)/completions/_iop $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_iop
	install -m 0644 $(TARGET_DIR)/completions/iop.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/iop.fish
