//! C ABI of iop.
