//! Typed wrappers for every hostcall. A capability the manifest does not grant
//! answers `HostError::Denied`; nothing here panics.

use crate::bindings;
use crate::http::{Request, Response};

/// Why a hostcall failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The manifest does not grant it.
    Denied(String),
    /// The backend failed.
    Backend(String),
    /// An outbound request timed out.
    Timeout(String),
    /// No such function (module calls).
    NotFound(String),
    /// Anything else.
    Failed(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Denied(m) => write!(f, "denied: {}", m),
            HostError::Backend(m) => write!(f, "backend error: {}", m),
            HostError::Timeout(m) => write!(f, "timeout: {}", m),
            HostError::NotFound(m) => write!(f, "not found: {}", m),
            HostError::Failed(m) => write!(f, "failed: {}", m),
        }
    }
}

impl std::error::Error for HostError {}

/// Writing to the host log (to stderr when running natively, as in unit tests).
pub mod log {
    use crate::bindings::Level;

    fn write(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::bindings::log::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        eprintln!("[{:?}] {}", level, message);
    }

    /// Logs at `info`.
    pub fn info(message: &str) {
        write(Level::Info, message)
    }
    /// Logs at `debug`.
    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }
    /// Logs at `warn`.
    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }
    /// Logs at `error`.
    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}

/// Configuration values granted by the manifest.
pub mod config {
    use super::HostError;
    use crate::bindings::{config, ConfigError};

    /// A config value; `Ok(None)` when granted but unset.
    pub fn get(key: &str) -> Result<Option<String>, HostError> {
        config::get(key).map_err(|e| match e {
            ConfigError::Denied(m) => HostError::Denied(m),
        })
    }
}

fn kv_error(e: bindings::KvError) -> HostError {
    match e {
        bindings::KvError::Denied(m) => HostError::Denied(m),
        bindings::KvError::Backend(m) => HostError::Backend(m),
    }
}

/// Key-value stores, by label.
pub mod kv {
    use super::{kv_error, HostError};
    use crate::bindings::kv;

    /// The value under `key`.
    pub fn get(store: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        kv::get(store, key).map_err(kv_error)
    }
    /// Stores `value` under `key`.
    pub fn set(store: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        kv::set(store, key, value).map_err(kv_error)
    }
    /// Removes `key`.
    pub fn delete(store: &str, key: &str) -> Result<(), HostError> {
        kv::delete(store, key).map_err(kv_error)
    }
    /// Keys starting with `prefix`.
    pub fn keys(store: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        kv::keys(store, prefix).map_err(kv_error)
    }
}

/// SQL databases, by label, with `?` placeholders.
pub mod sql {
    use super::HostError;
    pub use crate::bindings::{Rows, Value};
    use crate::bindings::{sql, SqlError};

    fn err(e: SqlError) -> HostError {
        match e {
            SqlError::Denied(m) => HostError::Denied(m),
            SqlError::Backend(m) => HostError::Backend(m),
        }
    }

    /// Runs a statement; returns the rows changed.
    pub fn execute(database: &str, statement: &str, params: &[Value]) -> Result<u64, HostError> {
        sql::execute(database, statement, params).map_err(err)
    }
    /// Runs a query.
    pub fn query(database: &str, statement: &str, params: &[Value]) -> Result<Rows, HostError> {
        sql::query(database, statement, params).map_err(err)
    }
}

/// Outbound HTTP to allowed hosts.
pub mod outbound {
    use super::HostError;
    use crate::bindings::{outbound_http, OutboundHttpError, OutgoingRequest};
    use crate::http::{body_to_wire, Response};

    /// Sends a request.
    pub fn send(method: &str, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<Response, HostError> {
        let req = OutgoingRequest { method: method.into(), url: url.into(), headers: headers.to_vec(), body: body_to_wire(body) };
        outbound_http::send(&req).map(Response::from_wire).map_err(|e| match e {
            OutboundHttpError::Denied(m) => HostError::Denied(m),
            OutboundHttpError::Timeout(m) => HostError::Timeout(m),
            OutboundHttpError::Failed(m) => HostError::Failed(m),
        })
    }
}

/// Calls another function on the same host (`name` or `name/version`).
pub fn call(module: &str, request: Request) -> Result<Response, HostError> {
    bindings::modules::call(module, &request.into_wire()).map(Response::from_wire).map_err(|e| match e {
        bindings::ModulesError::Denied(m) => HostError::Denied(m),
        bindings::ModulesError::NotFound(m) => HostError::NotFound(m),
        bindings::ModulesError::Failed(m) => HostError::Failed(m),
    })
}
