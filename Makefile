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

## Regenerate include/iop.h from ffi-c/src (cbindgen, pinned); `cargo test -p iop-ffi` fails on drift.
header:
	IOP_BLESS=1 $(CARGO) test --locked -q -p iop-ffi --test header

## Release build of libiop.so and libiop.a.
build-c:
	$(CARGO) build --locked --release -p iop-ffi

## Install libiop.so, libiop.a, iop.h and iop.pc under $(PREFIX) (staged under $(DESTDIR) if set).
install: build-c
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(TARGET_DIR)/release/libiop.so $(DESTDIR)$(PREFIX)/lib/libiop.so
	install -m 0644 $(TARGET_DIR)/release/libiop.a $(DESTDIR)$(PREFIX)/lib/libiop.a
	install -m 0644 include/iop.h $(DESTDIR)$(PREFIX)/include/iop.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -n 1)|g" \
	    iop.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/iop.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/iop.pc
