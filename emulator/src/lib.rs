//! iop-emulator: an offline IOP gateway on loopback.
