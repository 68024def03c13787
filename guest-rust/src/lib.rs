//! The wasmlet guest SDK for Rust: write only the handler.
//!
//! ```ignore
//! use wasmlet_guest::{Message, Path, Router};
//!
//! fn app() -> Router {
//!     Router::new()
//!         .get("/api/capitalize/:word", |Path(word): Path<String>| word.to_uppercase())
//!         .message("orders.*", |msg: Message| wasmlet_guest::log::info(&msg.text()))
//! }
//! wasmlet_guest::export!(app);
//! ```
//!
//! `bindings` is generated from `wit/` by `wasmlet bindgen`; `abi` is the
//! canonical-ABI runtime it stands on; `runtime` reports panics and running out
//! of memory to the host log.

pub mod abi;
pub mod bindings;
pub mod build;
pub mod events;
pub mod extract;
pub mod host;
pub mod http;
pub mod packed;
pub mod router;
pub mod runtime;
pub mod static_files;

pub use events::{IntoOutcome, Message, Schedule};
pub use extract::{Body, FromRequest, Headers, Json, Params, Path, Query};
pub use host::{call, config, kv, log, messaging, outbound, sql, HostError};
pub use http::{Html, IntoResponse, Request, Response};
pub use router::{Handler, Next, Router};
pub use static_files::StaticDir;
pub use {serde, serde_json};

/// The lowest level: one event in, one wire response out.
pub trait EventHandler {
    /// Handles one event.
    fn handle(event: bindings::Event) -> bindings::Response;
}

#[doc(hidden)]
pub struct Entry<H>(core::marker::PhantomData<H>);

impl<H: EventHandler> bindings::FunctionGuest for Entry<H> {
    fn handle(event: bindings::Event) -> bindings::Response {
        runtime::install_panic_hook();
        H::handle(event)
    }
}

#[doc(hidden)]
pub fn dispatch(router: &Router, event: bindings::Event) -> bindings::Response {
    router.handle_event(event).into_wire()
}

/// Exports an [`EventHandler`] as the component's `handle`, with the SDK's
/// panic hook and out-of-memory reporting.
#[macro_export]
macro_rules! export_handler {
    ($h:ty) => {
        $crate::export_function!($crate::Entry<$h>);
        #[global_allocator]
        static __WASMLET_ALLOC: $crate::runtime::GuardedAlloc = $crate::runtime::GuardedAlloc;
    };
}

/// Exports the [`Router`] a function builds (`fn app() -> Router`).
#[macro_export]
macro_rules! export {
    ($make:path) => {
        struct __WasmletApp;
        impl $crate::EventHandler for __WasmletApp {
            fn handle(event: $crate::bindings::Event) -> $crate::bindings::Response {
                $crate::dispatch(&$make(), event)
            }
        }
        $crate::export_handler!(__WasmletApp);
    };
}

/// The folder `build::embed_dir` embedded, as a [`StaticDir`].
#[macro_export]
macro_rules! include_static {
    () => {
        include!(concat!(env!("OUT_DIR"), "/wasmlet_static.rs"))
    };
}
