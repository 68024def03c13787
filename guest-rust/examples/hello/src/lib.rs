//! Hello world: a greeting and a capitalising API.

use wasmlet_guest::{Body, Event, Handler, Response};

struct Hello;

fn reply(status: u16, content_type: &str, body: String) -> Response {
    Response { status, headers: vec![("content-type".into(), content_type.into())], body: Body::Text(body) }
}

impl Handler for Hello {
    fn handle(event: Event) -> Response {
        let req = match event {
            Event::Http(req) => req,
            Event::Call(call) => call.request,
        };
        if req.path == "/" {
            let html = format!("<!doctype html><h1>Hello from Rust</h1><p>Try <a href=\"{}/api/capitalize/hello-world\">capitalize</a>.</p>", req.mount);
            return reply(200, "text/html; charset=utf-8", html);
        }
        if let Some(word) = req.path.strip_prefix("/api/capitalize/") {
            return reply(200, "text/plain; charset=utf-8", word.to_uppercase());
        }
        reply(404, "application/json", format!("{{\"error\":\"no route for {}\"}}", req.path.replace('"', "")))
    }
}

wasmlet_guest::export_handler!(Hello);
