//! The wasmlet guest SDK for Rust.
//!
//! `bindings` is generated from `wit/` by `wasmlet bindgen`; `abi` is the
//! canonical-ABI runtime it stands on; `runtime` holds what every function
//! gets: a panic hook that reports the message to the host, and an allocator
//! that says "out of memory" before the guest traps.

pub mod abi;
pub mod bindings;
pub mod runtime;

pub use bindings::{Body, Event, Request, Response};

/// A function's entry point: one event in, one response out.
pub trait Handler {
    /// Handles one event.
    fn handle(event: Event) -> Response;
}

#[doc(hidden)]
pub struct Entry<H>(core::marker::PhantomData<H>);

impl<H: Handler> bindings::FunctionGuest for Entry<H> {
    fn handle(event: Event) -> Response {
        runtime::install_panic_hook();
        H::handle(event)
    }
}

/// Exports a [`Handler`] as the component's `handle`, with the SDK's panic
/// hook and out-of-memory reporting.
#[macro_export]
macro_rules! export_handler {
    ($h:ty) => {
        $crate::export_function!($crate::Entry<$h>);
        #[global_allocator]
        static __WASMLET_ALLOC: $crate::runtime::GuardedAlloc = $crate::runtime::GuardedAlloc;
    };
}
