//! Messages and schedules (contract 0.3.0): the events that are not HTTP
//! requests, what their handlers may return, and NATS-style subject patterns.

use serde::de::DeserializeOwned;

use crate::bindings;
use crate::http::{body_from_wire, IntoResponse, Response};

/// A broker delivery (or an asynchronous invocation) as a handler sees it (the payload as bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The runtime-config label of the source (`[messaging.NAME]`).
    pub source: String,
    /// The subject, topic or routing key it was published to.
    pub subject: String,
    /// The payload's exact bytes.
    pub payload: Vec<u8>,
    /// Headers or attributes, as (name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// 1 on the first delivery, then 2, 3, ... on redeliveries.
    pub attempt: u32,
    /// The broker's message id, or one the host assigned.
    pub id: String,
}

impl Message {
    /// A first delivery on `subject` with `payload` (for tests): no source, headers or id.
    pub fn new(subject: &str, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            source: String::new(),
            subject: subject.into(),
            payload: payload.into(),
            headers: Vec::new(),
            attempt: 1,
            id: String::new(),
        }
    }

    /// Adds a header, builder style.
    pub fn with_header(mut self, name: &str, value: &str) -> Message {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload deserialised from JSON; `Err` is a 400 response (the host dead-letters the message).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| Response::error(400, &format!("invalid JSON payload: {}", e)))
    }

    pub(crate) fn from_wire(m: bindings::Message) -> Message {
        Message {
            source: m.source,
            subject: m.subject,
            payload: body_from_wire(m.payload),
            headers: m.headers,
            attempt: m.attempt,
            id: m.id,
        }
    }
}

/// A schedule from the manifest that came due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The schedule's name in the manifest.
    pub name: String,
    /// When it was due, in milliseconds since the Unix epoch (UTC).
    pub due_ms: u64,
}

impl Schedule {
    /// A schedule named `name`, due at `due_ms` (for tests).
    pub fn new(name: &str, due_ms: u64) -> Schedule {
        Schedule { name: name.into(), due_ms }
    }

    pub(crate) fn from_wire(s: bindings::Schedule) -> Schedule {
        Schedule { name: s.name, due_ms: s.due_ms }
    }
}

/// What a message or schedule handler may return: `()` acknowledges (200), `Result<(), E>`
/// acknowledges or answers `E`, and anything a route may return answers as it would.
pub trait IntoOutcome {
    /// Converts into the response the host reads the outcome from.
    fn into_outcome(self) -> Response;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Response {
        Response::new(200)
    }
}

impl<T: IntoResponse> IntoOutcome for T {
    fn into_outcome(self) -> Response {
        self.into_response()
    }
}

impl<E: IntoResponse> IntoOutcome for Result<(), E> {
    fn into_outcome(self) -> Response {
        match self {
            Ok(()) => Response::new(200),
            Err(e) => e.into_response(),
        }
    }
}

/// Panics unless `>` is at most the last token of `pattern` (a router is built wrong, not a message).
pub(crate) fn check_pattern(pattern: &str) {
    let tokens: Vec<&str> = pattern.split('.').collect();
    assert!(
        !tokens[..tokens.len() - 1].contains(&">"),
        "subject pattern {:?}: `>` may only be the last token",
        pattern
    );
}

/// Whether `subject` matches `pattern`, as NATS matches: `*` is one `.`-separated token,
/// a last `>` one or more.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let wanted: Vec<&str> = pattern.split('.').collect();
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in wanted.iter().enumerate() {
        if *token == ">" && i == wanted.len() - 1 {
            return tokens.len() > i;
        }
        match tokens.get(i) {
            Some(t) if *token == "*" || token == t => {}
            _ => return false,
        }
    }
    wanted.len() == tokens.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_as_nats_does() {
        let cases = [
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("a.b", "a.b.c", false),
            ("a.b", "a", false),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.*", "a", false),
            ("*.b.*", "x.b.y", true),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c.d", true),
            ("a.>", "a", false),
            (">", "anything.at.all", true),
            ("*.>", "a", false),
            ("*.>", "a.b", true),
        ];
        for (pattern, subject, matches) in cases.iter() {
            assert_eq!(subject_matches(pattern, subject), *matches, "{} ~ {}", pattern, subject);
        }
    }

    #[test]
    #[should_panic(expected = "may only be the last token")]
    fn a_greater_than_before_the_last_token_panics() {
        check_pattern("a.>.b");
    }

    #[test]
    fn every_payload_byte_survives_the_wire() {
        let all: Vec<u8> = (0..=255u8).collect();
        for body in [
            bindings::Body::Octets(crate::http::bytes_to_octets(&all)),
            bindings::Body::Bytes(all.clone()),
        ] {
            let wire = bindings::Message {
                source: "nats".into(),
                subject: "a.b".into(),
                payload: body,
                headers: vec![("k".into(), "v".into())],
                attempt: 2,
                id: "id-1".into(),
            };
            let msg = Message::from_wire(wire);
            assert_eq!(msg.payload, all);
            assert_eq!((msg.source.as_str(), msg.attempt, msg.id.as_str()), ("nats", 2, "id-1"));
            assert_eq!(msg.header("K"), Some("v"));
        }
        let text = bindings::Body::Text("héllo".into());
        assert_eq!(body_from_wire(text), "héllo".as_bytes());
    }
}
