// The orders microservice: the same component on SQLite, PostgreSQL or MariaDB,
// chosen by the host's runtime config through the `database` config value.

import { App, HostError, Response, config, sql, type Handler, type MessageHandler, type Row } from "wasmlet-guest";

interface Order {
  order_id: number;
  product_id: number;
  quantity: number;
  amount: number;
  shipping: number;
  tax: number;
  shipping_address: string;
}

const COLUMNS = "order_id, product_id, quantity, amount, shipping, tax, shipping_address";
const INTEGERS = ["order_id", "product_id", "quantity"] as const;
const REALS = ["amount", "shipping", "tax"] as const;

/** An order from parsed JSON, or an error naming the field that is wrong (the router answers 400). */
function order(value: unknown): Order {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("expected an order object");
  for (const key of INTEGERS) {
    if (typeof v[key] !== "number" || !Number.isInteger(v[key])) throw new Error(`missing field \`${key}\` (an integer)`);
  }
  for (const key of REALS) {
    if (typeof v[key] !== "number") throw new Error(`missing field \`${key}\` (a number)`);
  }
  if (typeof v.shipping_address !== "string") throw new Error("missing field `shipping_address` (a string)");
  return {
    order_id: v.order_id as number, product_id: v.product_id as number, quantity: v.quantity as number,
    amount: v.amount as number, shipping: v.shipping as number, tax: v.tax as number,
    shipping_address: v.shipping_address,
  };
}

function orders(value: unknown): Order[] {
  if (!Array.isArray(value)) throw new Error("expected an array of orders");
  return value.map(order);
}

function database(): string {
  return config.get("database") ?? "default";
}

/** A failed hostcall as a JSON error response (403 when denied, else 500). */
function guarded(handler: Handler): Handler {
  return (req) => {
    try {
      return handler(req);
    } catch (err) {
      if (!(err instanceof HostError)) throw err;
      return Response.error(err.kind === "denied" ? 403 : 500, `${err.kind}: ${err.detail}`);
    }
  };
}

/** A message handler whose failed hostcall answers a JSON error (403 when denied, else 500). */
function guardedMessage(handler: MessageHandler): MessageHandler {
  return (msg) => {
    try {
      return handler(msg);
    } catch (err) {
      if (!(err instanceof HostError)) throw err;
      return Response.error(err.kind === "denied" ? 403 : 500, `${err.kind}: ${err.detail}`);
    }
  };
}

function fromRow(r: Row): Order {
  return {
    order_id: Number(r.order_id), product_id: Number(r.product_id), quantity: Number(r.quantity),
    amount: Number(r.amount), shipping: Number(r.shipping), tax: Number(r.tax),
    shipping_address: String(r.shipping_address ?? ""),
  };
}

const app = new App();

app.get("/init", guarded(() => {
  sql.execute(database(), "DROP TABLE IF EXISTS orders");
  sql.execute(database(), "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, product_id INTEGER, quantity INTEGER, " +
    "amount DOUBLE PRECISION, shipping DOUBLE PRECISION, tax DOUBLE PRECISION, shipping_address VARCHAR(255))");
  return { status: "initialized" };
}));

app.post("/create_orders", guarded((req) => {
  const batch = req.json(orders);
  for (const o of batch) {
    sql.execute(database(), `INSERT INTO orders (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
      o.order_id, o.product_id, o.quantity, sql.real(o.amount), sql.real(o.shipping), sql.real(o.tax),
      o.shipping_address,
    ]);
  }
  return { created: batch.length };
}));

app.get("/orders", guarded(() =>
  sql.query(database(), `SELECT ${COLUMNS} FROM orders ORDER BY order_id`).map(fromRow)));

app.post("/update_order", guarded((req) => {
  const o = req.json(order);
  const n = sql.execute(database(), "UPDATE orders SET product_id = ?, quantity = ?, amount = ?, shipping = ?, " +
    "tax = ?, shipping_address = ? WHERE order_id = ?", [
    o.product_id, o.quantity, sql.real(o.amount), sql.real(o.shipping), sql.real(o.tax), o.shipping_address,
    o.order_id,
  ]);
  return { updated: n };
}));

app.get("/delete_order", guarded((req) => {
  const raw = req.query.get("id") ?? "";
  if (!/^-?\d+$/.test(raw)) return Response.error(400, "query parameter `id` must be an integer");
  return { deleted: sql.execute(database(), "DELETE FROM orders WHERE order_id = ?", [Number(raw)]) };
}));

// An order published on `orders.created` (a message trigger in the manifest) is stored like one
// POSTed to /create_orders; a failed insert answers 500, so the message is redelivered.
app.message("orders.created", guardedMessage((msg) => {
  const o = msg.json(order);
  sql.execute(database(), `INSERT INTO orders (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
    o.order_id, o.product_id, o.quantity, sql.real(o.amount), sql.real(o.shipping), sql.real(o.tax),
    o.shipping_address,
  ]);
}));

export default app;
