//! A test function that misbehaves on request: it answers, echoes, loops,
//! exhausts memory and panics, depending on the path. It also answers messages
//! (publishing a reply) and schedules.

use wasmlet_guest::bindings::{log, messaging, Level, MessagingError};
use wasmlet_guest::bindings::{Body, Event, Message, Request, Response, Schedule};
use wasmlet_guest::EventHandler;

struct Probe;

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Body::Text(body.into()),
    }
}

fn respond(req: Request) -> Response {
    match req.path.as_str() {
        "/hello" => text(200, "hello from rust"),
        "/echo" => Response { status: 200, headers: req.headers, body: req.body },
        "/info" => text(200, &format!("{} {} ?{} mount={}", req.method, req.path, req.query, req.mount)),
        "/loop" => {
            let mut n: u64 = 0;
            loop {
                // A volatile read the optimiser cannot see through.
                n = unsafe { std::ptr::read_volatile(&n) }.wrapping_add(1);
                if n == 0 {
                    break text(200, "never");
                }
            }
        }
        "/alloc" => {
            let mut keep: Vec<Vec<u8>> = Vec::new();
            loop {
                keep.push(vec![1u8; 1 << 20]);
                if keep.len() == usize::MAX {
                    break text(200, "never");
                }
            }
        }
        "/config" | "/kv" | "/call" | "/http" => hostcall(&req),
        "/repeat" => repeat(&req),
        "/sql-cells" => sql_cells(&req),
        "/sql-blob" => sql_blob(req),
        "/recurse" => {
            let me = req.mount.trim_matches('/').split('/').next().unwrap_or("").to_string();
            match wasmlet_guest::call(&me, wasmlet_guest::Request::new("GET", "/recurse")) {
                Ok(r) => text(r.status, &r.body_text()),
                Err(e) => text(508, &e.to_string()),
            }
        }
        "/bad-status" => text(42, "not a status"),
        "/bad-header" => Response {
            status: 200,
            headers: vec![("x-bad".into(), "a\r\nb".into())],
            body: Body::Text("x".into()),
        },
        "/panic" => panic!("deliberate panic for testing"),
        "/log" => {
            log::log(Level::Info, "hello from the probe");
            text(200, "logged")
        }
        _ => text(404, "no such probe"),
    }
}

/// Runs the request body as a query on `default` and answers one line per cell, exactly:
/// `null`, `int N`, `real <f64 bits in hex>`, `text <UTF-8 in hex>`, `blob <hex>`.
fn sql_cells(req: &Request) -> Response {
    use wasmlet_guest::sql::{self, Value};
    let statement = match &req.body {
        Body::Text(s) => s.clone(),
        _ => return text(400, "send the statement as text"),
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{:02x}", x)).collect::<String>();
    match sql::query("default", &statement, &[]) {
        Ok(rows) => {
            let mut out = String::new();
            for row in rows.rows {
                for cell in row {
                    out.push_str(&match cell {
                        Value::Null => "null".to_string(),
                        Value::Integer(i) => format!("int {}", i),
                        Value::Real(f) => format!("real {:016x}", f.to_bits()),
                        Value::Text(t) => format!("text {}", hex(t.as_bytes())),
                        Value::Blob(b) => format!("blob {}", hex(&b)),
                    });
                    out.push('\n');
                }
            }
            text(200, &out)
        }
        Err(e) => text(502, &e.to_string()),
    }
}

/// The request body as a blob parameter and back as a cell (`SELECT ?`), answered as the body.
fn sql_blob(req: Request) -> Response {
    use wasmlet_guest::http::{bytes_to_octets, octets_to_bytes};
    use wasmlet_guest::sql::{self, Value};
    let bytes = match req.body {
        Body::Text(s) => s.into_bytes(),
        Body::Octets(o) => octets_to_bytes(&o),
        Body::Bytes(b) => b,
    };
    match sql::query("default", "SELECT ? AS b", &[Value::Blob(bytes)]) {
        Ok(rows) => match rows.rows.into_iter().next().and_then(|r| r.into_iter().next()) {
            Some(Value::Blob(b)) => Response { status: 200, headers: vec![], body: Body::Octets(bytes_to_octets(&b)) },
            other => text(500, &format!("not a blob: {:?}", other)),
        },
        Err(e) => text(502, &e.to_string()),
    }
}

/// N hostcalls of one kind, results ignored (bench/phases.py: the cost of one).
fn repeat(req: &Request) -> Response {
    use wasmlet_guest::{config, kv, log as sdk_log, sql, Query};
    let q = Query::parse(&req.query);
    let kind = q.get("kind").unwrap_or("log").to_string();
    let n: u32 = q.get("n").and_then(|v| v.parse().ok()).unwrap_or(1);
    for _ in 0..n {
        let _ = match kind.as_str() {
            "config" => config::get("key").map(|_| ()),
            "kv" => kv::get("default", "key").map(|_| ()),
            "sql" => sql::query("default", "SELECT 1 AS one, 'x' AS two", &[]).map(|_| ()),
            _ => {
                sdk_log::debug("repeat");
                Ok(())
            }
        };
    }
    text(200, &format!("{} x {}", kind, n))
}

/// Exercises hostcalls through the SDK's wrappers; denied -> 403, other failures -> 502.
fn hostcall(req: &Request) -> Response {
    use wasmlet_guest::{config, kv, HostError, Query};
    let q = Query::parse(&req.query);
    let arg = |k: &str| q.get(k).unwrap_or("").to_string();
    let result: Result<String, HostError> = match req.path.as_str() {
        "/config" => config::get(&arg("key")).map(|v| format!("{:?}", v)),
        "/kv" => {
            let store = q.get("store").unwrap_or("default").to_string();
            match q.get("op").unwrap_or("") {
                "set" => kv::set(&store, &arg("key"), arg("value").as_bytes()).map(|_| "ok".into()),
                "get" => kv::get(&store, &arg("key"))
                    .map(|v| format!("{:?}", v.map(|b| String::from_utf8_lossy(&b).into_owned()))),
                "delete" => kv::delete(&store, &arg("key")).map(|_| "ok".into()),
                _ => kv::keys(&store, &arg("prefix")).map(|k| format!("{:?}", k)),
            }
        }
        "/call" => wasmlet_guest::call(&arg("module"), wasmlet_guest::Request::new("GET", &arg("path")))
            .map(|r| format!("{} {}", r.status, r.body_text())),
        _ => wasmlet_guest::outbound::send("GET", &arg("url"), &[], Vec::new())
            .map(|r| format!("{} {}", r.status, r.body_text())),
    };
    match result {
        Ok(body) => text(200, &body),
        Err(HostError::Denied(m)) => text(403, &format!("denied: {}", m)),
        Err(e) => text(502, &e.to_string()),
    }
}

/// Publishes through the raw binding: 200, 403 with the error when denied, 502 when the broker failed.
fn publish(source: &str, subject: &str, payload: &Body, headers: &[(String, String)]) -> Response {
    match messaging::publish(source, subject, payload, headers) {
        Ok(()) => text(200, "published"),
        Err(MessagingError::Denied(m)) => text(403, &format!("denied: {}", m)),
        Err(MessagingError::Failed(m)) => text(502, &format!("failed: {}", m)),
    }
}

/// `trap` panics, `reject` answers 400, anything else is published to `<subject>.reply` on the same source.
fn on_message(msg: Message) -> Response {
    let payload = match &msg.payload {
        Body::Text(s) => s.as_str(),
        _ => "",
    };
    match payload {
        "trap" => panic!("deliberate panic for testing"),
        "reject" => text(400, "rejected"),
        _ => {
            let headers = vec![("attempt".to_string(), msg.attempt.to_string()), ("id".to_string(), msg.id.clone())];
            publish(&msg.source, &format!("{}.reply", msg.subject), &msg.payload, &headers)
        }
    }
}

/// Publishes `<name> <due_ms>` to `schedules.fired` on `events`.
fn on_schedule(schedule: Schedule) -> Response {
    let payload = Body::Text(format!("{} {}", schedule.name, schedule.due_ms));
    publish("events", "schedules.fired", &payload, &[])
}

impl EventHandler for Probe {
    fn handle(event: Event) -> Response {
        match event {
            Event::Http(req) => respond(req),
            Event::Call(call) => respond(call.request),
            Event::Message(msg) => on_message(msg),
            Event::Schedule(schedule) => on_schedule(schedule),
        }
    }
}

wasmlet_guest::export_handler!(Probe);
