//! A test function whose handlers use `?` on hostcalls: a failed hostcall
//! answers 403 / 503 / 500 with `{"error": message, "kind": kind}` through the
//! SDK's `IntoResponse for HostError` (and `From<HostError> for Response`).

use wasmlet_guest::{call, config, kv, sql, HostError, Path, Query, Request, Response, Router};

/// A config value (403 when the manifest grants no config).
fn read_config(Path(key): Path<String>) -> Result<String, HostError> {
    Ok(config::get(&key)?.unwrap_or_default())
}

/// A value from the `default` store (403 without a `[kv]` grant).
fn read_kv(Path(key): Path<String>) -> Result<Vec<u8>, HostError> {
    Ok(kv::get("default", &key)?.unwrap_or_default())
}

/// The keys of the `default` store, through `From<HostError> for Response`.
fn list_keys() -> Result<String, Response> {
    Ok(kv::keys("default", "")?.join(","))
}

/// Runs the query `q` on the `default` database (a broken statement is a backend error: 503).
fn run_sql(q: Query) -> Result<String, HostError> {
    let rows = sql::query("default", q.get("q").unwrap_or(""), &[])?;
    Ok(format!("{} rows", rows.rows.len()))
}

/// Calls another function (500 when there is no such function).
fn call_other(Path(name): Path<String>) -> Result<Response, HostError> {
    call(&name, Request::new("GET", "/"))
}

pub fn app() -> Router {
    Router::new()
        .get("/config/:key", read_config)
        .get("/kv/:key", read_kv)
        .get("/keys", list_keys)
        .get("/sql", run_sql)
        .get("/call/:name", call_other)
}

wasmlet_guest::export!(app);
