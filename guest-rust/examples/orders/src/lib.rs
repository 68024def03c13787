//! The orders microservice: the same component on SQLite, PostgreSQL or MariaDB,
//! chosen by the host's runtime config through the `database` config value.

use serde::{Deserialize, Serialize};
use wasmlet_guest::sql::{self, Value};
use wasmlet_guest::{config, HostError, Json, Message, Query, Response, Router};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i64,
    pub amount: f64,
    pub shipping: f64,
    pub tax: f64,
    pub shipping_address: String,
}

const COLUMNS: &str = "order_id, product_id, quantity, amount, shipping, tax, shipping_address";

fn fail(e: HostError) -> Response {
    let status = if let HostError::Denied(_) = e { 403 } else { 500 };
    Response::error(status, &e.to_string())
}

fn database() -> Result<String, Response> {
    config::get("database").map(|v| v.unwrap_or_else(|| "default".into())).map_err(fail)
}

fn execute(statement: &str, params: &[Value]) -> Result<u64, Response> {
    sql::execute(&database()?, statement, params).map_err(fail)
}

fn order_params(o: &Order) -> Vec<Value> {
    vec![
        Value::Integer(o.product_id),
        Value::Integer(o.quantity),
        Value::Real(o.amount),
        Value::Real(o.shipping),
        Value::Real(o.tax),
        Value::Text(o.shipping_address.clone()),
        Value::Integer(o.order_id),
    ]
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        Value::Real(r) => *r as i64,
        Value::Text(t) => t.parse().unwrap_or(0),
        _ => 0,
    }
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Real(r) => *r,
        Value::Text(t) => t.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null => String::new(),
    }
}

fn init() -> Result<Response, Response> {
    execute("DROP TABLE IF EXISTS orders", &[])?;
    execute(
        "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, product_id INTEGER, quantity INTEGER, \
         amount DOUBLE PRECISION, shipping DOUBLE PRECISION, tax DOUBLE PRECISION, shipping_address VARCHAR(255))",
        &[],
    )?;
    Ok(Response::json(200, &serde_json::json!({ "status": "initialized" })))
}

fn create_orders(Json(orders): Json<Vec<Order>>) -> Result<Response, Response> {
    for o in &orders {
        let mut params = order_params(o);
        params.rotate_right(1); // order_id first
        execute(&format!("INSERT INTO orders ({}) VALUES (?, ?, ?, ?, ?, ?, ?)", COLUMNS), &params)?;
    }
    Ok(Response::json(200, &serde_json::json!({ "created": orders.len() })))
}

fn list_orders() -> Result<Json<Vec<Order>>, Response> {
    let rows = sql::query(&database()?, &format!("SELECT {} FROM orders ORDER BY order_id", COLUMNS), &[])
        .map_err(fail)?;
    Ok(Json(
        rows.rows
            .iter()
            .map(|r| Order {
                order_id: int(&r[0]),
                product_id: int(&r[1]),
                quantity: int(&r[2]),
                amount: real(&r[3]),
                shipping: real(&r[4]),
                tax: real(&r[5]),
                shipping_address: text(&r[6]),
            })
            .collect(),
    ))
}

fn update_order(Json(o): Json<Order>) -> Result<Response, Response> {
    let n = execute(
        "UPDATE orders SET product_id = ?, quantity = ?, amount = ?, shipping = ?, tax = ?, shipping_address = ? \
         WHERE order_id = ?",
        &order_params(&o),
    )?;
    Ok(Response::json(200, &serde_json::json!({ "updated": n })))
}

fn delete_order(q: Query) -> Result<Response, Response> {
    let id: i64 = match q.get("id").and_then(|v| v.parse().ok()) {
        Some(id) => id,
        None => return Err(Response::error(400, "query parameter `id` must be an integer")),
    };
    let n = execute("DELETE FROM orders WHERE order_id = ?", &[Value::Integer(id)])?;
    Ok(Response::json(200, &serde_json::json!({ "deleted": n })))
}

/// An order published on `orders.created` (a message trigger in the manifest) is stored like one
/// POSTed to /create_orders; a failed insert answers 500, so the message is redelivered.
fn order_created(msg: Message) -> Result<(), Response> {
    let o: Order = msg.json()?;
    let mut params = order_params(&o);
    params.rotate_right(1); // order_id first
    execute(&format!("INSERT INTO orders ({}) VALUES (?, ?, ?, ?, ?, ?, ?)", COLUMNS), &params)?;
    Ok(())
}

pub fn app() -> Router {
    Router::new()
        .get("/init", init)
        .post("/create_orders", create_orders)
        .get("/orders", list_orders)
        .post("/update_order", update_order)
        .get("/delete_order", delete_order)
        .message("orders.created", order_created)
}

wasmlet_guest::export!(app);
