"""The orders microservice: the same component on SQLite, PostgreSQL or MariaDB,
chosen by the host's runtime config through the `database` config value."""

from dataclasses import astuple, dataclass
from typing import Any

from wasmlet_guest import App, HostError, Json, Message, Query, Response, config, sql

app = App()

COLUMNS = "order_id, product_id, quantity, amount, shipping, tax, shipping_address"


@dataclass
class Order:
    order_id: int
    product_id: int
    quantity: int
    amount: float
    shipping: float
    tax: float
    shipping_address: str


def fail(exc: HostError) -> Response:
    return Response.error(403 if exc.kind == "denied" else 500, f"{exc.kind}: {exc.message}")


def database() -> str:
    return config.get("database") or "default"


def guarded(handler: Any) -> Any:
    """Turns a failed hostcall into a JSON error response."""
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except HostError as exc:
            return fail(exc)

    run.__annotations__ = handler.__annotations__
    run.__wrapped__ = handler  # type: ignore[attr-defined]
    return run


@app.get("/init")
@guarded
def init() -> dict[str, str]:
    sql.execute(database(), "DROP TABLE IF EXISTS orders")
    sql.execute(database(), "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, product_id INTEGER, quantity INTEGER, "
                "amount DOUBLE PRECISION, shipping DOUBLE PRECISION, tax DOUBLE PRECISION, shipping_address VARCHAR(255))")
    return {"status": "initialized"}


@app.post("/create_orders")
@guarded
def create_orders(orders: Json[list[dict[str, Any]]]) -> dict[str, int]:
    rows = [Order(**o) for o in orders]
    for o in rows:
        sql.execute(database(), f"INSERT INTO orders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [o.order_id, o.product_id, o.quantity, float(o.amount), float(o.shipping), float(o.tax),
                     o.shipping_address])
    return {"created": len(rows)}


@app.get("/orders")
@guarded
def list_orders() -> list[Order]:
    rows = sql.query(database(), f"SELECT {COLUMNS} FROM orders ORDER BY order_id")
    return [Order(int(r["order_id"]), int(r["product_id"]), int(r["quantity"]), float(r["amount"]),
                  float(r["shipping"]), float(r["tax"]), str(r["shipping_address"])) for r in rows]


@app.post("/update_order")
@guarded
def update_order(order: Json[Order]) -> dict[str, int]:
    values = list(astuple(order))
    n = sql.execute(database(), "UPDATE orders SET product_id = ?, quantity = ?, amount = ?, shipping = ?, tax = ?, "
                    "shipping_address = ? WHERE order_id = ?",
                    [*values[1:3], float(values[3]), float(values[4]), float(values[5]), values[6], values[0]])
    return {"updated": n}


@app.get("/delete_order")
@guarded
def delete_order(query: Query) -> Response | dict[str, int]:
    raw = query.get("id") or ""
    if not raw.lstrip("-").isdigit():
        return Response.error(400, "query parameter `id` must be an integer")
    return {"deleted": sql.execute(database(), "DELETE FROM orders WHERE order_id = ?", [int(raw)])}


@app.message("orders.created")
def order_created(msg: Message) -> Response | None:
    """An order published on `orders.created` (a message trigger in the manifest) is stored like one
    POSTed to /create_orders; a failed insert answers 500, so the message is redelivered."""
    o = Order(**msg.json())
    try:
        sql.execute(database(), f"INSERT INTO orders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [o.order_id, o.product_id, o.quantity, float(o.amount), float(o.shipping), float(o.tax),
                     o.shipping_address])
    except HostError as exc:
        return fail(exc)
    return None


WitWorld = app.export()
