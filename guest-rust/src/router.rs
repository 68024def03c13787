//! The router: routes by method and path pattern, onion middleware, static files;
//! message handlers by subject pattern and schedule handlers by name.

use crate::bindings;
use crate::events::{check_pattern, subject_matches, IntoOutcome, Message, Schedule};
use crate::extract::FromRequest;
use crate::http::{IntoResponse, Request, Response};
use crate::static_files::StaticDir;

/// A function that can handle a request: any `Fn` whose parameters are
/// extractors and whose result converts into a response.
pub trait Handler<Args>: 'static {
    /// Runs the handler.
    fn call(&self, req: &Request) -> Response;
}

macro_rules! impl_handler {
    ($($t:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, R, $($t,)*> Handler<($($t,)*)> for F
        where
            F: Fn($($t),*) -> R + 'static,
            R: IntoResponse,
            $($t: FromRequest,)*
        {
            fn call(&self, req: &Request) -> Response {
                $(let $t = match $t::from_request(req) {
                    Ok(v) => v,
                    Err(resp) => return resp,
                };)*
                (self)($($t),*).into_response()
            }
        }
    };
}

impl_handler!();
impl_handler!(A);
impl_handler!(A, B);
impl_handler!(A, B, C);
impl_handler!(A, B, C, D);
impl_handler!(A, B, C, D, E);
impl_handler!(A, B, C, D, E, G);

/// Continues a request to the next middleware or to the routes.
pub struct Next<'a> {
    router: &'a Router,
    index: usize,
}

impl<'a> Next<'a> {
    /// Runs the rest of the onion.
    pub fn run(self, req: Request) -> Response {
        self.router.run_from(self.index, req)
    }
}

type Middleware = Box<dyn Fn(Request, Next) -> Response>;

enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

struct Route {
    methods: Vec<String>,
    pattern: Vec<Segment>,
    handler: Box<dyn Fn(&Request) -> Response>,
}

type EventHandlerFn<E> = Box<dyn Fn(E) -> Response>;

/// Routes, middleware, static folders, message and schedule handlers of one function.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    middleware: Vec<Middleware>,
    statics: Vec<(String, StaticDir)>,
    messages: Vec<(String, EventHandlerFn<Message>)>,
    schedules: Vec<(String, EventHandlerFn<Schedule>)>,
}

fn parse_pattern(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Some(name) = s.strip_prefix(':') {
                Segment::Param(name.into())
            } else if let Some(name) = s.strip_prefix('*') {
                Segment::Rest(name.into())
            } else if s.starts_with('{') && s.ends_with('}') {
                Segment::Param(s[1..s.len() - 1].into())
            } else {
                Segment::Literal(s.into())
            }
        })
        .collect()
}

fn match_pattern(pattern: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Rest(name) => {
                params.push((name.clone(), parts[i.min(parts.len())..].join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if parts.get(i) != Some(&lit.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => match parts.get(i) {
                Some(value) => params.push((name.clone(), percent_decode(value))),
                None => return None,
            },
        }
    }
    if parts.len() == pattern.len() {
        Some(params)
    } else {
        None
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// A route for several methods. Patterns use `:name` or `{name}` for a
    /// segment and `*name` for the rest of the path.
    pub fn route<H: Handler<A>, A>(mut self, methods: &[&str], path: &str, handler: H) -> Router {
        self.routes.push(Route {
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            pattern: parse_pattern(path),
            handler: Box::new(move |req| handler.call(req)),
        });
        self
    }

    /// A GET (and HEAD) route.
    pub fn get<H: Handler<A>, A>(self, path: &str, handler: H) -> Router {
        self.route(&["GET", "HEAD"], path, handler)
    }

    /// A POST route.
    pub fn post<H: Handler<A>, A>(self, path: &str, handler: H) -> Router {
        self.route(&["POST"], path, handler)
    }

    /// A PUT route.
    pub fn put<H: Handler<A>, A>(self, path: &str, handler: H) -> Router {
        self.route(&["PUT"], path, handler)
    }

    /// A DELETE route.
    pub fn delete<H: Handler<A>, A>(self, path: &str, handler: H) -> Router {
        self.route(&["DELETE"], path, handler)
    }

    /// A PATCH route.
    pub fn patch<H: Handler<A>, A>(self, path: &str, handler: H) -> Router {
        self.route(&["PATCH"], path, handler)
    }

    /// Adds a middleware; the first added is the outermost layer.
    pub fn middleware(mut self, mw: impl Fn(Request, Next) -> Response + 'static) -> Router {
        self.middleware.push(Box::new(mw));
        self
    }

    /// Serves an embedded folder under `prefix` (see [`crate::include_static!`]).
    pub fn static_files(mut self, prefix: &str, dir: StaticDir) -> Router {
        self.statics.push((prefix.trim_end_matches('/').to_string(), dir));
        self
    }

    /// Handles messages whose subject matches `pattern` (`*` is one token, a last `>` the rest);
    /// the first registered match wins. Panics if `>` is not the last token.
    pub fn message<F, R>(mut self, pattern: &str, handler: F) -> Router
    where
        F: Fn(Message) -> R + 'static,
        R: IntoOutcome,
    {
        check_pattern(pattern);
        self.messages.push((pattern.into(), Box::new(move |msg| handler(msg).into_outcome())));
        self
    }

    /// Handles the manifest's schedule `name` when it comes due.
    pub fn schedule<F, R>(mut self, name: &str, handler: F) -> Router
    where
        F: Fn(Schedule) -> R + 'static,
        R: IntoOutcome,
    {
        self.schedules.push((name.into(), Box::new(move |s| handler(s).into_outcome())));
        self
    }

    /// Handles one request through the middleware and the routes.
    pub fn handle(&self, req: Request) -> Response {
        self.run_from(0, req)
    }

    /// Runs the first handler whose pattern matches the subject (no middleware); 404 when none does.
    pub fn handle_message(&self, msg: Message) -> Response {
        match self.messages.iter().find(|(pattern, _)| subject_matches(pattern, &msg.subject)) {
            Some((_, handler)) => handler(msg),
            None => Response::error(404, &format!("no handler for message on {}", msg.subject)),
        }
    }

    /// Runs the handler registered for the schedule's name (no middleware); 404 when there is none.
    pub fn handle_schedule(&self, schedule: Schedule) -> Response {
        match self.schedules.iter().find(|(name, _)| *name == schedule.name) {
            Some((_, handler)) => handler(schedule),
            None => Response::error(404, &format!("no handler for schedule {}", schedule.name)),
        }
    }

    /// Handles one wire event: a request or call through the router, a message or schedule to its handler.
    pub fn handle_event(&self, event: bindings::Event) -> Response {
        match event {
            bindings::Event::Http(req) => self.handle(Request::from_wire(req, None)),
            bindings::Event::Call(call) => self.handle(Request::from_wire(call.request, Some(call.caller))),
            bindings::Event::Message(msg) => self.handle_message(Message::from_wire(msg)),
            bindings::Event::Schedule(s) => self.handle_schedule(Schedule::from_wire(s)),
        }
    }

    fn run_from(&self, index: usize, req: Request) -> Response {
        match self.middleware.get(index) {
            Some(mw) => mw(req, Next { router: self, index: index + 1 }),
            None => self.dispatch(req),
        }
    }

    fn dispatch(&self, mut req: Request) -> Response {
        let mut allowed: Vec<String> = Vec::new();
        for route in &self.routes {
            if let Some(params) = match_pattern(&route.pattern, &req.path) {
                if route.methods.iter().any(|m| *m == req.method) {
                    req.params = params;
                    let mut resp = (route.handler)(&req);
                    if req.method == "HEAD" {
                        resp.body.clear();
                    }
                    return resp;
                }
                for m in &route.methods {
                    if !allowed.contains(m) {
                        allowed.push(m.clone());
                    }
                }
            }
        }
        if req.method == "GET" || req.method == "HEAD" {
            for (prefix, dir) in &self.statics {
                if let Some(resp) = crate::static_files::Serve::serve(dir, prefix, &req) {
                    return resp;
                }
            }
        }
        if !allowed.is_empty() {
            return Response::error(405, &format!("method {} not allowed", req.method))
                .with_header("allow", &allowed.join(", "));
        }
        Response::error(404, &format!("no route for {} {}", req.method, req.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Headers, Json, Params, Path, Query};
    use std::cell::RefCell;
    use std::rc::Rc;

    static FILES: StaticDir = &[("index.html", b"<h1>home</h1>"), ("sub/page.css", b"body{}")];

    #[derive(serde::Deserialize, serde::Serialize)]
    struct Person {
        name: String,
        age: u32,
    }

    fn router() -> Router {
        Router::new()
            .get("/hello/:name", |Path(name): Path<String>| format!("hi {}", name))
            .get("/num/{n}", |Path(n): Path<u32>| format!("{}", n * 2))
            .get("/two/:a/:b", |p: Params| format!("{}-{}", p.get("a").unwrap(), p.get("b").unwrap()))
            .get("/files/*rest", |p: Params| p.get("rest").unwrap().to_string())
            .get("/q", |q: Query| q.get_all("k").join(","))
            .get("/h", |h: Headers| h.get("X-Thing").unwrap_or("none").to_string())
            .post("/person", |Json(p): Json<Person>| Json(p))
            .route(&["PUT", "PATCH"], "/thing", || "changed")
            .static_files("/", FILES)
    }

    fn get(r: &Router, path: &str) -> Response {
        r.handle(Request::new("GET", path))
    }

    #[test]
    fn path_parameters_and_patterns() {
        let r = router();
        assert_eq!(get(&r, "/hello/bob").body_text(), "hi bob");
        assert_eq!(get(&r, "/hello/a%20b").body_text(), "hi a b");
        assert_eq!(get(&r, "/num/21").body_text(), "42");
        assert_eq!(get(&r, "/num/x").status, 400);
        assert_eq!(get(&r, "/two/x/y").body_text(), "x-y");
        assert_eq!(get(&r, "/files/a/b/c.txt").body_text(), "a/b/c.txt");
    }

    #[test]
    fn query_keeps_repeated_keys_and_headers_are_case_insensitive() {
        let r = router();
        assert_eq!(get(&r, "/q?k=1&x=0&k=2&k=a%20b").body_text(), "1,2,a b");
        let resp = r.handle(Request::new("GET", "/h").with_header("x-thing", "yes"));
        assert_eq!(resp.body_text(), "yes");
    }

    #[test]
    fn json_extractor_answers_400_with_the_reason() {
        let r = router();
        let ok = r.handle(Request::new("POST", "/person").with_body(r#"{"name":"a","age":3}"#));
        assert_eq!((ok.status, ok.body_text()), (200, r#"{"name":"a","age":3}"#.to_string()));
        assert_eq!(ok.header("content-type"), Some("application/json"));
        let bad = r.handle(Request::new("POST", "/person").with_body("{"));
        assert_eq!(bad.status, 400);
        let missing = r.handle(Request::new("POST", "/person").with_body(r#"{"name":"a"}"#));
        assert_eq!(missing.status, 400);
        assert!(missing.body_text().contains("missing field `age`"));
    }

    #[test]
    fn unknown_route_is_404_and_wrong_method_is_405_with_allow() {
        let r = router();
        assert_eq!(get(&r, "/nope").status, 404);
        let resp = r.handle(Request::new("DELETE", "/thing"));
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("allow"), Some("PUT, PATCH"));
        assert_eq!(r.handle(Request::new("PATCH", "/thing")).body_text(), "changed");
    }

    #[test]
    fn static_files_with_index_content_type_and_etag() {
        let r = router();
        let index = get(&r, "/");
        assert_eq!(index.body_text(), "<h1>home</h1>");
        assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
        let css = get(&r, "/sub/page.css");
        assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
        let tag = index.header("etag").unwrap().to_string();
        let again = r.handle(Request::new("GET", "/").with_header("if-none-match", &tag));
        assert_eq!((again.status, again.body.len()), (304, 0));
        let head = r.handle(Request::new("HEAD", "/hello/x"));
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(get(&r, "/sub/").status, 404);
    }

    #[test]
    fn middleware_is_an_onion_and_can_short_circuit() {
        let trace = Rc::new(RefCell::new(Vec::new()));
        let (t1, t2) = (trace.clone(), trace.clone());
        let r = Router::new()
            .middleware(move |req: Request, next: Next| {
                t1.borrow_mut().push("outer-in");
                let resp = next.run(req);
                t1.borrow_mut().push("outer-out");
                resp
            })
            .middleware(move |req: Request, next: Next| {
                t2.borrow_mut().push("inner-in");
                if req.header("x-block").is_some() {
                    return Response::text(403, "blocked");
                }
                let resp = next.run(req);
                t2.borrow_mut().push("inner-out");
                resp
            })
            .get("/", || "ok");
        assert_eq!(r.handle(Request::new("GET", "/")).body_text(), "ok");
        assert_eq!(*trace.borrow(), vec!["outer-in", "inner-in", "inner-out", "outer-out"]);
        trace.borrow_mut().clear();
        let blocked = r.handle(Request::new("GET", "/").with_header("x-block", "1"));
        assert_eq!(blocked.status, 403);
        assert_eq!(*trace.borrow(), vec!["outer-in", "inner-in", "outer-out"]);
    }

    fn denied(_: Message) -> Result<(), crate::HostError> {
        Err(crate::HostError::Denied("kv store `default` is not granted".into()))
    }

    fn parsed(msg: Message) -> Result<Json<serde_json::Value>, Response> {
        let v: serde_json::Value = msg.json()?;
        Ok(Json(serde_json::json!({ "n": v["n"], "attempt": msg.attempt, "h": msg.header("X-Trace") })))
    }

    fn events(seen: Rc<RefCell<Vec<String>>>) -> Router {
        let (s1, s2, s3) = (seen.clone(), seen.clone(), seen);
        Router::new()
            .middleware(move |req: Request, next: Next| {
                s1.borrow_mut().push("middleware".into());
                next.run(req)
            })
            .message("orders.created", move |m: Message| s2.borrow_mut().push(format!("created {}", m.text())))
            .message("orders.*.shipped", |m: Message| format!("shipped {}", m.subject))
            .message("orders.>", |m: Message| (422, format!("rest {}", m.subject)))
            .message("orders.created", |_: Message| "never")
            .message("kv.>", denied)
            .message("json", parsed)
            .schedule("nightly", move |s: Schedule| s3.borrow_mut().push(format!("{} {}", s.name, s.due_ms)))
            .schedule("broken", |_: Schedule| (503, "try later"))
    }

    #[test]
    fn messages_dispatch_by_subject_first_match_wins_and_skip_middleware() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let r = events(seen.clone());
        let ok = r.handle_message(Message::new("orders.created", "o-1"));
        assert_eq!((ok.status, ok.body.len()), (200, 0));
        assert_eq!(*seen.borrow(), vec!["created o-1".to_string()]);
        let shipped = r.handle_message(Message::new("orders.eu.shipped", ""));
        assert_eq!((shipped.status, shipped.body_text()), (200, "shipped orders.eu.shipped".to_string()));
        let rest = r.handle_message(Message::new("orders.eu.shipped.late", ""));
        assert_eq!((rest.status, rest.body_text()), (422, "rest orders.eu.shipped.late".to_string()));
    }

    #[test]
    fn message_return_values_host_errors_and_no_handler() {
        let r = events(Rc::new(RefCell::new(Vec::new())));
        let refused = r.handle_message(Message::new("kv.read", ""));
        assert_eq!(refused.status, 403);
        assert_eq!(refused.body_text(), r#"{"error":"kv store `default` is not granted","kind":"denied"}"#);
        let missing = r.handle_message(Message::new("payments.done", ""));
        let body = r#"{"error":"no handler for message on payments.done"}"#;
        assert_eq!((missing.status, missing.body_text()), (404, body.to_string()));
        let mut msg = Message::new("json", r#"{"n": 7}"#).with_header("x-trace", "t");
        msg.attempt = 3;
        let ok = r.handle_message(msg);
        assert_eq!(ok.body_text(), r#"{"attempt":3,"h":"t","n":7}"#);
        let bad = r.handle_message(Message::new("json", "{"));
        assert_eq!(bad.status, 400);
        assert!(bad.body_text().contains("invalid JSON payload: "));
    }

    #[test]
    fn schedules_dispatch_by_name() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let r = events(seen.clone());
        assert_eq!(r.handle_schedule(Schedule::new("nightly", 1_767_225_600_000)).status, 200);
        assert_eq!(*seen.borrow(), vec!["nightly 1767225600000".to_string()]);
        assert_eq!(r.handle_schedule(Schedule::new("broken", 0)).status, 503);
        let missing = r.handle_schedule(Schedule::new("hourly", 0));
        let body = r#"{"error":"no handler for schedule hourly"}"#;
        assert_eq!((missing.status, missing.body_text()), (404, body.to_string()));
    }

    #[test]
    fn wire_events_are_dispatched_with_every_payload_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let expected = all.clone();
        let r = Router::new()
            .message(">", move |m: Message| Response::new(if m.payload == expected { 200 } else { 500 }))
            .schedule("tick", |s: Schedule| format!("{}@{}", s.name, s.due_ms))
            .get("/hi", || "hi");
        let wire = bindings::Message {
            source: "nats".into(),
            subject: "a.b".into(),
            payload: bindings::Body::Octets(crate::http::bytes_to_octets(&all)),
            headers: Vec::new(),
            attempt: 1,
            id: "i".into(),
        };
        assert_eq!(r.handle_event(bindings::Event::Message(wire)).status, 200);
        let tick = r.handle_event(bindings::Event::Schedule(bindings::Schedule { name: "tick".into(), due_ms: 5 }));
        assert_eq!(tick.body_text(), "tick@5");
        let req = Request::new("GET", "/hi").into_wire();
        assert_eq!(r.handle_event(bindings::Event::Http(req)).body_text(), "hi");
    }
}
