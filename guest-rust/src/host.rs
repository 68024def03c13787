//! Typed wrappers for every hostcall. A capability the manifest does not grant
//! answers `HostError::Denied`; nothing here panics. A handler may return
//! `Result<T, HostError>` and use `?`: an error answers 403 (denied), 503
//! (backend, timeout) or 500 with `{"error": message, "kind": kind}`.

use crate::bindings;
use crate::http::{IntoResponse, Request, Response};

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

impl HostError {
    /// The kind's name, as the Python SDK spells it: denied, backend, timeout, not-found, failed.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "denied",
            HostError::Backend(_) => "backend",
            HostError::Timeout(_) => "timeout",
            HostError::NotFound(_) => "not-found",
            HostError::Failed(_) => "failed",
        }
    }

    /// The host's message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            HostError::Denied(m)
            | HostError::Backend(m)
            | HostError::Timeout(m)
            | HostError::NotFound(m)
            | HostError::Failed(m) => m,
        }
    }

    /// The status it answers with: 403 denied, 503 when a backend is unavailable or timed out, else 500.
    pub fn status(&self) -> u16 {
        match self {
            HostError::Denied(_) => 403,
            HostError::Backend(_) | HostError::Timeout(_) => 503,
            HostError::NotFound(_) | HostError::Failed(_) => 500,
        }
    }
}

/// So a handler can return `Result<T, HostError>` and use `?` on hostcalls.
impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        Response::json(self.status(), &serde_json::json!({ "error": self.message(), "kind": self.kind() }))
    }
}

/// So `?` works on hostcalls in a handler (or helper) returning `Result<T, Response>`.
impl From<HostError> for Response {
    fn from(e: HostError) -> Response {
        e.into_response()
    }
}

impl From<bindings::ConfigError> for HostError {
    fn from(e: bindings::ConfigError) -> HostError {
        match e {
            bindings::ConfigError::Denied(m) => HostError::Denied(m),
        }
    }
}

impl From<bindings::KvError> for HostError {
    fn from(e: bindings::KvError) -> HostError {
        match e {
            bindings::KvError::Denied(m) => HostError::Denied(m),
            bindings::KvError::Backend(m) => HostError::Backend(m),
        }
    }
}

impl From<bindings::SqlError> for HostError {
    fn from(e: bindings::SqlError) -> HostError {
        match e {
            bindings::SqlError::Denied(m) => HostError::Denied(m),
            bindings::SqlError::Backend(m) => HostError::Backend(m),
        }
    }
}

impl From<bindings::OutboundHttpError> for HostError {
    fn from(e: bindings::OutboundHttpError) -> HostError {
        match e {
            bindings::OutboundHttpError::Denied(m) => HostError::Denied(m),
            bindings::OutboundHttpError::Timeout(m) => HostError::Timeout(m),
            bindings::OutboundHttpError::Failed(m) => HostError::Failed(m),
        }
    }
}

impl From<bindings::MessagingError> for HostError {
    fn from(e: bindings::MessagingError) -> HostError {
        match e {
            bindings::MessagingError::Denied(m) => HostError::Denied(m),
            bindings::MessagingError::Failed(m) => HostError::Failed(m),
        }
    }
}

impl From<bindings::ModulesError> for HostError {
    fn from(e: bindings::ModulesError) -> HostError {
        match e {
            bindings::ModulesError::Denied(m) => HostError::Denied(m),
            bindings::ModulesError::NotFound(m) => HostError::NotFound(m),
            bindings::ModulesError::Failed(m) => HostError::Failed(m),
        }
    }
}

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
    use crate::bindings::config;

    /// A config value; `Ok(None)` when granted but unset.
    pub fn get(key: &str) -> Result<Option<String>, HostError> {
        config::get(key).map_err(HostError::from)
    }
}

/// Key-value stores, by label.
pub mod kv {
    use super::HostError;
    use crate::bindings::kv;

    /// The value under `key`.
    pub fn get(store: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        kv::get(store, key).map(|v| v.map(crate::http::body_from_wire)).map_err(HostError::from)
    }
    /// Stores `value` under `key`.
    pub fn set(store: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        kv::set(store, key, &crate::http::body_to_wire(value.to_vec())).map_err(HostError::from)
    }
    /// Removes `key`.
    pub fn delete(store: &str, key: &str) -> Result<(), HostError> {
        kv::delete(store, key).map_err(HostError::from)
    }
    /// Keys starting with `prefix`.
    pub fn keys(store: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        kv::keys(store, prefix).map_err(HostError::from)
    }
}

/// SQL databases, by label, with `?` placeholders.
pub mod sql {
    use super::HostError;
    use crate::bindings::{sql, Value as Wire};

    /// One SQL value: a parameter or a cell.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        /// SQL NULL.
        Null,
        /// A 64-bit signed integer.
        Integer(i64),
        /// A 64-bit float.
        Real(f64),
        /// Text.
        Text(String),
        /// Bytes.
        Blob(Vec<u8>),
    }

    impl Value {
        /// As the contract carries it (a blob's bytes as octets: one buffer, not a value per byte).
        fn to_wire(&self) -> Wire {
            match self {
                Value::Null => Wire::Null,
                Value::Integer(i) => Wire::Integer(*i),
                Value::Real(r) => Wire::Real(*r),
                Value::Text(t) => Wire::Text(t.clone()),
                Value::Blob(b) => Wire::Blob(crate::http::bytes_to_octets(b)),
            }
        }
    }

    fn wire(params: &[Value]) -> Vec<Wire> {
        params.iter().map(Value::to_wire).collect()
    }

    /// The rows a query returned.
    #[derive(Debug, Clone)]
    pub struct Rows {
        /// The column names, in order.
        pub columns: Vec<String>,
        /// The rows, each with one value per column.
        pub rows: Vec<Vec<Value>>,
    }

    /// Runs a statement; returns the rows changed.
    pub fn execute(database: &str, statement: &str, params: &[Value]) -> Result<u64, HostError> {
        sql::execute(database, statement, &wire(params)).map_err(HostError::from)
    }
    /// Runs a query (its rows cross the boundary packed into one string, unpacked here).
    pub fn query(database: &str, statement: &str, params: &[Value]) -> Result<Rows, HostError> {
        let result = sql::query(database, statement, &wire(params)).map_err(HostError::from)?;
        let rows = crate::packed::unpack_rows(&result.packed).map_err(HostError::Failed)?;
        Ok(Rows { columns: result.columns, rows })
    }
}

/// Outbound HTTP to allowed hosts.
pub mod outbound {
    use super::HostError;
    use crate::bindings::{outbound_http, OutgoingRequest};
    use crate::http::{body_to_wire, Response};

    /// Sends a request.
    pub fn send(method: &str, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<Response, HostError> {
        let req = OutgoingRequest { method: method.into(), url: url.into(), headers: headers.to_vec(), body: body_to_wire(body) };
        outbound_http::send(&req).map(Response::from_wire).map_err(HostError::from)
    }
}

/// Publishing to message brokers, by source label and subject, as the manifest grants.
pub mod messaging {
    use super::HostError;
    use crate::bindings::{Body, MessagingError};

    type Publish = fn(&str, &str, &Body, &[(String, String)]) -> Result<(), MessagingError>;

    /// Publishes `payload` (bytes, or text as UTF-8) with `headers` to `subject` on the source
    /// labelled `source`; returns once the broker has it.
    pub fn publish<P: AsRef<[u8]>>(
        source: &str,
        subject: &str,
        payload: P,
        headers: &[(String, String)],
    ) -> Result<(), HostError> {
        publish_with(crate::bindings::messaging::publish, source, subject, payload.as_ref(), headers)
    }

    /// Sends the payload as a body (text when UTF-8, octets otherwise) through `send`.
    pub(crate) fn publish_with(
        send: Publish,
        source: &str,
        subject: &str,
        payload: &[u8],
        headers: &[(String, String)],
    ) -> Result<(), HostError> {
        send(source, subject, &crate::http::body_to_wire(payload.to_vec()), headers).map_err(HostError::from)
    }
}

/// Calls another function on the same host (`name` or `name/version`).
pub fn call(module: &str, request: Request) -> Result<Response, HostError> {
    bindings::modules::call(module, &request.into_wire()).map(Response::from_wire).map_err(HostError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Path;
    use crate::router::Router;

    /// Stands in for a hostcall: fails with the kind the key names.
    fn fake_hostcall(key: &str) -> Result<String, HostError> {
        match key {
            "denied" => Err(bindings::KvError::Denied("kv store `default` is not granted".into()).into()),
            "backend" => Err(bindings::SqlError::Backend("database is locked".into()).into()),
            "timeout" => Err(bindings::OutboundHttpError::Timeout("deadline exceeded".into()).into()),
            "not-found" => Err(bindings::ModulesError::NotFound("no function 'x'".into()).into()),
            "failed" => Err(HostError::Failed("call depth".into())),
            _ => Ok(format!("value of {}", key)),
        }
    }

    fn question_mark(Path(key): Path<String>) -> Result<String, HostError> {
        let value = fake_hostcall(&key)?;
        Ok(value)
    }

    fn into_response_error(Path(key): Path<String>) -> Result<String, Response> {
        Ok(fake_hostcall(&key)?)
    }

    fn get(r: &Router, path: &str) -> Response {
        r.handle(crate::http::Request::new("GET", path))
    }

    #[test]
    fn a_host_error_from_question_mark_answers_status_and_json() {
        let r = Router::new().get("/a/:key", question_mark).get("/b/:key", into_response_error);
        let cases = [
            ("denied", 403, "kv store `default` is not granted"),
            ("backend", 503, "database is locked"),
            ("timeout", 503, "deadline exceeded"),
            ("not-found", 500, "no function 'x'"),
            ("failed", 500, "call depth"),
        ];
        for (kind, status, message) in cases.iter() {
            for prefix in ["/a/", "/b/"].iter() {
                let resp = get(&r, &format!("{}{}", prefix, kind));
                assert_eq!(resp.status, *status, "{}{}", prefix, kind);
                assert_eq!(resp.header("content-type"), Some("application/json"));
                let expected = serde_json::json!({ "error": message, "kind": kind });
                assert_eq!(resp.body_text(), expected.to_string());
            }
        }
        assert_eq!(get(&r, "/a/k").body_text(), "value of k");
        assert_eq!(get(&r, "/b/k").status, 200);
    }

    /// Stands in for the `publish` import: records what it was sent, fails on `denied.*` and `failed.*`.
    fn fake_publish(
        _source: &str,
        subject: &str,
        payload: &bindings::Body,
        headers: &[(String, String)],
    ) -> Result<(), bindings::MessagingError> {
        match subject {
            "denied.x" => Err(bindings::MessagingError::Denied("publish to denied.x on nats is not granted".into())),
            "failed.x" => Err(bindings::MessagingError::Failed("broker unreachable".into())),
            "text" => {
                assert_eq!(*payload, bindings::Body::Text("héllo".into()));
                assert_eq!(headers.to_vec(), vec![("k".to_string(), "v".to_string())]);
                Ok(())
            }
            _ => {
                assert_eq!(*payload, bindings::Body::Octets("\u{0}\u{ff}".into()));
                Ok(())
            }
        }
    }

    #[test]
    fn publish_sends_a_body_and_maps_errors() {
        use messaging::publish_with;
        let headers = vec![("k".to_string(), "v".to_string())];
        assert_eq!(publish_with(fake_publish, "nats", "text", "héllo".as_bytes(), &headers), Ok(()));
        assert_eq!(publish_with(fake_publish, "nats", "bytes", &[0u8, 255], &[]), Ok(()));
        let denied = publish_with(fake_publish, "nats", "denied.x", b"", &[]).unwrap_err();
        assert_eq!(denied, HostError::Denied("publish to denied.x on nats is not granted".into()));
        assert_eq!(denied.into_response().status, 403);
        let failed = publish_with(fake_publish, "nats", "failed.x", b"", &[]).unwrap_err();
        assert_eq!((failed.kind(), failed.status()), ("failed", 500));
    }

    #[test]
    fn the_body_has_the_python_sdk_bytes() {
        let resp = HostError::Denied("no".into()).into_response();
        assert_eq!(resp.body_text(), r#"{"error":"no","kind":"denied"}"#);
        assert_eq!(Response::from(HostError::Timeout("t".into())).status, 503);
    }
}
