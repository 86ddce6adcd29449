//! Static archive of hyper's C API for node-hyper.
pub use hyper::ffi::*;
