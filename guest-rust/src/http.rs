//! The SDK's request and response: bytes bodies, helpers, conversions.

use serde::Serialize;

use crate::bindings;

/// An HTTP request as a handler sees it (the body as bytes, whatever the wire variant).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Path below the function's mount, starting with `/`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Lower-case header names; order and duplicates kept.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The URL prefix the function is served under, e.g. `/hello/latest`.
    pub mount: String,
    /// Path parameters of the matched route.
    pub params: Vec<(String, String)>,
    /// The calling function, for module calls.
    pub caller: Option<String>,
}

impl Request {
    /// A request with a method and a path (for tests).
    pub fn new(method: &str, path: &str) -> Request {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path, ""),
        };
        Request { method: method.into(), path: path.into(), query: query.into(), ..Request::default() }
    }

    /// Adds a header (lower-cased), builder style.
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body, builder style.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// A path parameter of the matched route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The SDK request for a wire request (`caller` is set for a module call).
    pub(crate) fn from_wire(req: bindings::Request, caller: Option<String>) -> Request {
        let body = body_from_wire(req.body);
        Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body,
            mount: req.mount,
            params: Vec::new(),
            caller,
        }
    }

    pub(crate) fn into_wire(self) -> bindings::Request {
        bindings::Request {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: body_to_wire(self.body),
            mount: self.mount,
        }
    }
}

/// An HTTP response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// `text/plain` UTF-8.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(body.into())
    }

    /// `text/html` UTF-8.
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response::new(status).with_header("content-type", "text/html; charset=utf-8").with_body(body.into())
    }

    /// `application/json`.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status).with_header("content-type", "application/json").with_body(body),
            Err(e) => Response::text(500, format!("could not serialise the response: {}", e)),
        }
    }

    /// A JSON error body `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    /// Adds a header, builder style.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body, builder style.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn into_wire(self) -> bindings::Response {
        bindings::Response { status: self.status, headers: self.headers, body: body_to_wire(self.body) }
    }

    pub(crate) fn from_wire(resp: bindings::Response) -> Response {
        Response { status: resp.status, headers: resp.headers, body: body_from_wire(resp.body) }
    }
}

/// Text when the bytes are UTF-8, octets otherwise: either way one buffer across the boundary
/// (a `list<u8>` crosses value by value, about 30 times slower).
pub(crate) fn body_to_wire(body: Vec<u8>) -> bindings::Body {
    match String::from_utf8(body) {
        Ok(s) => bindings::Body::Text(s),
        Err(e) => bindings::Body::Octets(bytes_to_octets(e.as_bytes())),
    }
}

/// The exact bytes a body carries, whichever case the host chose.
pub(crate) fn body_from_wire(body: bindings::Body) -> Vec<u8> {
    match body {
        bindings::Body::Text(s) => s.into_bytes(),
        bindings::Body::Bytes(b) => b,
        bindings::Body::Octets(s) => octets_to_bytes(&s),
    }
}

/// Each byte as the character of the same value (U+0000-U+00FF): the `octets` encoding.
pub fn bytes_to_octets(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The bytes of an `octets` string: each character's value (every character is at most U+00FF;
/// a larger one, which the host never sends, keeps its low byte).
pub fn octets_to_bytes(octets: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(octets.len());
    out.extend(octets.chars().map(|c| c as u32 as u8));
    out
}

/// What a handler may return.
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(200, self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(200, self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::new(200).with_header("content-type", "application/octet-stream").with_body(self)
    }
}

impl<T: IntoResponse> IntoResponse for (u16, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        r.status = self.0;
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// HTML body.
pub struct Html(pub String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        Response::html(200, self.0)
    }
}
