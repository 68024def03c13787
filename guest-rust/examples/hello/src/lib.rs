//! Hello world: static pages, a few JSON APIs, a logging and a not-found middleware.

use serde::{Deserialize, Serialize};
use wasmlet_guest::{log, Body, Json, Next, Path, Query, Request, Response, Router, StaticDir};

static STATIC: StaticDir = wasmlet_guest::include_static!();

#[derive(Serialize, Deserialize)]
struct Person {
    name: String,
    age: u32,
}

fn capitalize(Path(word): Path<String>) -> String {
    word.to_uppercase()
}

#[derive(Serialize)]
struct QueryEcho {
    name: Option<String>,
    age: Option<String>,
}

fn echo_query(query: Query) -> Json<QueryEcho> {
    Json(QueryEcho { name: query.get("name").map(String::from), age: query.get("age").map(String::from) })
}

fn echo_person(Json(person): Json<Person>) -> Json<Person> {
    Json(person)
}

/// Any bytes back as they came (an upload, an image, a protobuf).
fn echo_bytes(Body(bytes): Body) -> Vec<u8> {
    bytes
}

/// Logs method, path and status of every request (the host stamps the time).
fn logging(req: Request, next: Next) -> Response {
    let (method, path) = (req.method.clone(), req.path.clone());
    let resp = next.run(req);
    log::info(&format!("{} {} -> {}", method, path, resp.status));
    resp
}

/// Unknown routes get a JSON 404.
fn not_found(req: Request, next: Next) -> Response {
    let path = req.path.clone();
    let resp = next.run(req);
    if resp.status == 404 {
        return Response::json(404, &serde_json::json!({ "error": "not found", "path": path }));
    }
    resp
}

pub fn app() -> Router {
    Router::new()
        .middleware(logging)
        .middleware(not_found)
        .get("/api/capitalize/:word", capitalize)
        .get("/api/echo-query", echo_query)
        .post("/api/echo-person", echo_person)
        .post("/api/echo-bytes", echo_bytes)
        .static_files("/", STATIC)
}

wasmlet_guest::export!(app);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitalizes() {
        let resp = app().handle(Request::new("GET", "/api/capitalize/hello-world"));
        assert_eq!(resp.body_text(), "HELLO-WORLD");
    }

    #[test]
    fn serves_the_index() {
        let resp = app().handle(Request::new("GET", "/"));
        assert_eq!(resp.status, 200);
        assert!(resp.body_text().contains("./subdir/page2.html"));
    }
}
