//! The wasmlet guest SDK for Rust.
//!
//! `bindings` is generated from `wit/` by `wasmlet bindgen`; `abi` is the
//! canonical-ABI runtime it stands on.

pub mod abi;
pub mod bindings;
