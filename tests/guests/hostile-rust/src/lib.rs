//! A hostile test function: it answers with whatever the test asks for, so
//! host tests can check what reaches the wire when a guest misbehaves.
//!
//! `GET /respond?status=204&h=name:value&h=...&body=...` returns exactly that
//! status, those headers (in order, repeated `h` kept) and that body. Every
//! value is percent-decoded (`+` stays `+`), so it may hold CR, LF, NUL or any
//! other byte. `GET /spin?n=N&log=1` busies itself for N million rounds; `GET /count`
//! counts the calls this instance has seen (always 1 on a fresh instance). std only:
//! no crates beyond the SDK.

use wasmlet_guest::bindings::{Body, Event, Request, Response};
use wasmlet_guest::EventHandler;

struct Hostile;

/// Decodes `%XX` escapes into raw bytes; anything else is kept as it is.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A decoded query value as a string (invalid UTF-8 is replaced, as headers are strings).
fn decoded(raw: &str) -> String {
    String::from_utf8_lossy(&percent_decode(raw)).into_owned()
}

/// `/respond`: the status, headers and body named in the query string, exactly.
fn respond(req: &Request) -> Response {
    let mut status: u16 = 200;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut octets: Option<String> = None;
    for pair in req.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.find('=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, ""),
        };
        match key {
            "status" => status = value.parse().unwrap_or(0),
            "h" => {
                let header = decoded(value);
                let (name, val) = match header.find(':') {
                    Some(at) => (header[..at].to_string(), header[at + 1..].to_string()),
                    None => (header.clone(), String::new()),
                };
                headers.push((name, val));
            }
            "body" => body = percent_decode(value),
            "octets" => octets = Some(decoded(value)),
            _ => {}
        }
    }
    if let Some(raw) = octets {
        // any characters as an `octets` body, above U+00FF too: the host must refuse those
        return Response { status, headers, body: Body::Octets(raw) };
    }
    let body = match String::from_utf8(body) {
        Ok(text) => Body::Text(text),
        Err(err) => Body::Bytes(err.into_bytes()),
    };
    Response { status, headers, body }
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Body::Text(body.into()),
    }
}

/// `/spin?n=N&log=1`: N million rounds of busy work (no clock on wasm32-unknown-unknown),
/// logging a warning first when `log` is given: a guest that outruns an inline budget.
fn spin(req: &Request) -> Response {
    let mut millions: u64 = 100;
    let mut log = false;
    for pair in req.query.split('&') {
        if let Some(n) = pair.strip_prefix("n=") {
            millions = n.parse().unwrap_or(100);
        } else if pair == "log=1" {
            log = true;
        }
    }
    if log {
        wasmlet_guest::log::warn(&format!("spinning {} million rounds", millions));
    }
    let mut x: u64 = 0;
    for i in 0..millions * 1_000_000 {
        x = unsafe { std::ptr::read_volatile(&x) }.wrapping_add(i);
    }
    text(200, &format!("spun {} million rounds ({})", millions, x % 7))
}

/// Module state: a host that reused an instance would show a count above 1.
static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn route(req: Request) -> Response {
    match req.path.as_str() {
        "/count" => {
            let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            text(200, &n.to_string())
        }
        "/respond" => respond(&req),
        "/spin" => spin(&req),
        "/hello" => text(200, "hello from hostile"),
        p if p.starts_with("/path/") => text(200, p),
        _ => text(404, &format!("no such path {}", req.path)),
    }
}

impl EventHandler for Hostile {
    fn handle(event: Event) -> Response {
        match event {
            Event::Http(req) => route(req),
            Event::Call(call) => route(call.request),
            Event::Message(_) | Event::Schedule(_) => text(404, "no message or schedule handlers here"),
        }
    }
}

wasmlet_guest::export_handler!(Hostile);
