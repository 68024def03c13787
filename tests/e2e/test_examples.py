"""The README's first command: `scripts/serve-examples.sh` serves every example, each with the
manifest its folder ships (the orders examples need SQL; without function.toml they would answer 403)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from guests import ROOT
from servers import free_port, running


def test_serve_examples_serves_hello_and_orders_in_every_language(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"WASMLET_BIND": f"127.0.0.1:{port}", "WASMLET_DATA_DIR": str(tmp_path / "data"),
           "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR", str(ROOT / ".wasmlet" / "cargo-target"))}
    with running([], f"{base}/_wasmlet/health", tmp_path / "examples.log", env=env,
                 command=["bash", str(ROOT / "scripts" / "serve-examples.sh")], ready_timeout=600):
        listing = httpx.get(f"{base}/").json()["functions"]
        assert {f["name"]: f["status"] for f in listing} == dict.fromkeys(
            ["hello", "hello-py", "hello-js", "orders", "orders-py", "orders-js"], "serving")
        assert {f["name"]: Path(f["manifest"]).name for f in listing if f["manifest"]} == {
            "orders": "function.toml", "orders-py": "function.toml", "orders-js": "function.toml"}
        assert "wasmlet" in httpx.get(f"{base}/hello/latest/", follow_redirects=True).text.lower()
        assert httpx.get(f"{base}/hello-py/latest/").status_code == 200
        assert httpx.get(f"{base}/hello-js/latest/api/capitalize/js").text == "JS"
        order = {"order_id": 1, "product_id": 2, "quantity": 3, "amount": 4.5, "shipping": 1.0, "tax": 0.5,
                 "shipping_address": "1 Example Street"}
        for name in ("orders", "orders-py", "orders-js"):
            with httpx.Client(base_url=f"{base}/{name}/latest", timeout=60) as c:  # both use database "default"
                assert c.get("/init").json() == {"status": "initialized"}, name
                assert c.get("/orders").json() == [], name
                assert c.post("/create_orders", json=[order]).json() == {"created": 1}, name
                assert c.get("/orders").json() == [order], name
