//! Extractors: typed pieces of a request, as handler parameters. A request they
//! cannot be read from is answered with 400 and the reason, never a panic.

use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::{IntoResponse, Request, Response};

/// Reads a value from the request, or answers with an error response.
pub trait FromRequest: Sized {
    /// Extracts the value.
    fn from_request(req: &Request) -> Result<Self, Response>;
}

/// The route's only (or first) path parameter, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Path<T>(pub T);

impl<T: FromStr> FromRequest for Path<T> {
    fn from_request(req: &Request) -> Result<Self, Response> {
        let (name, raw) = match req.params.first() {
            Some(p) => p,
            None => return Err(Response::error(500, "Path<T> used on a route without parameters")),
        };
        raw.parse()
            .map(Path)
            .map_err(|_| Response::error(400, &format!("path parameter `{}` is not valid: {:?}", name, raw)))
    }
}

/// All path parameters by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl FromRequest for Params {
    fn from_request(req: &Request) -> Result<Self, Response> {
        Ok(Params(req.params.clone()))
    }
}

/// The query string, decoded; repeated keys are kept in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Query {
        Query(form_urlencoded::parse(raw.as_bytes()).into_owned().collect())
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

impl FromRequest for Query {
    fn from_request(req: &Request) -> Result<Self, Response> {
        Ok(Query::parse(&req.query))
    }
}

/// A JSON body deserialised into `T`; as a return value, a JSON response.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    fn from_request(req: &Request) -> Result<Self, Response> {
        serde_json::from_slice(&req.body)
            .map(Json)
            .map_err(|e| Response::error(400, &format!("invalid JSON body: {}", e)))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(200, &self.0)
    }
}

/// The request headers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of a header (names are lower-case).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

impl FromRequest for Headers {
    fn from_request(req: &Request) -> Result<Self, Response> {
        Ok(Headers(req.headers.clone()))
    }
}

/// The raw body bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body(pub Vec<u8>);

impl FromRequest for Body {
    fn from_request(req: &Request) -> Result<Self, Response> {
        Ok(Body(req.body.clone()))
    }
}

impl FromRequest for String {
    fn from_request(req: &Request) -> Result<Self, Response> {
        String::from_utf8(req.body.clone()).map_err(|_| Response::error(400, "the body is not valid UTF-8"))
    }
}

impl FromRequest for Request {
    fn from_request(req: &Request) -> Result<Self, Response> {
        Ok(req.clone())
    }
}
