"""An unmodified-style wasi:http handler (componentize-py, synchronous): the interop tests ask the
same of it under wasmlet and under `wasmtime serve`.

GET /            hello
ANY /echo        the method, path, query and x-* headers as JSON headers; the body streamed back
GET /status/N    status N
GET /headers     several headers, one repeated
GET /outbound?url=U   fetches U through outgoing-handler; answers its status and body, or 502 and
                      the error code
GET /stream?mb=N      N MiB written in 64 KiB pieces
GET /slow-stream?n=N&ms=M   N pieces of 128 KiB, M ms apart
GET /poll-two    waits on two clock pollables in one `poll`; answers which were ready

Hostile routes, for wasmlet's own tests: /sleep?ms=N (a clock wait), /spin (a busy loop),
/flood?mb=N (N MiB of zeroes, past any cap), /fields-flood?n=N&kb=K (header data only the host
holds), /random?n=N, /insecure?n=N, /exit, /exit-after (once its response is whole), /after-finish
(writes past the end), /bad-name (a header name ending in a newline), /forge?line=L (prints L, then
traps), /world (what it can see of the environment, the filesystem and the network).
"""

import json
import os
import socket
import sys
from urllib.parse import parse_qs

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import insecure, monotonic_clock, outgoing_handler, poll, random
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)

CHUNK = 65536


def respond(out: ResponseOutparam, status: int, headers: list[tuple[str, bytes]], pieces) -> None:
    response = OutgoingResponse(Fields.from_list(headers))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(out, Ok(response))
    with body.write() as stream:
        for piece in pieces:
            for at in range(0, len(piece), 4096):
                stream.blocking_write_and_flush(piece[at:at + 4096])
    OutgoingBody.finish(body, None)


def read_all(body: IncomingBody):
    with body.stream() as stream:
        while True:
            try:
                yield stream.blocking_read(CHUNK)
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    return
                raise


def method_name(method) -> str:
    name = type(method).__name__.split("_", 1)[1]
    return method.value if name == "Other" else name.upper()


def fetch(url: str):
    scheme, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    request = OutgoingRequest(Fields())
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query("/" + path)
    future = outgoing_handler.handle(request, None)
    with future.subscribe() as ready:
        ready.block()
    result = future.get()
    if isinstance(result.value, Err):
        return None, type(result.value.value).__name__.split("_", 1)[1]
    response = result.value.value
    return response, b"".join(read_all(response.consume()))


def pause_then(ns: int, i: int) -> bytes:
    if i:
        with monotonic_clock.subscribe_duration(ns) as timer:
            timer.block()
    return bytes([i % 251]) * 131072


def after_finish(out: ResponseOutparam) -> None:
    response = OutgoingResponse(Fields())
    body = response.body()
    ResponseOutparam.set(out, Ok(response))
    stream = body.write()
    stream.blocking_write_and_flush(b"before\n")
    OutgoingBody.finish(body, None)
    try:
        stream.blocking_write_and_flush(b"after\n")
        print("the host took a write past the end", flush=True)
    except Err:
        print("the host refused a write past the end", flush=True)


def flood(out: ResponseOutparam, mb: int) -> None:
    response = OutgoingResponse(Fields())
    body = response.body()
    ResponseOutparam.set(out, Ok(response))
    stream = body.write()
    try:
        for _ in range(mb):
            stream.blocking_write_zeroes_and_flush(1 << 20)
    except Err:
        print("the host refused more", flush=True)
    stream.__exit__(None, None, None)
    try:
        OutgoingBody.finish(body, None)
    except Err:
        pass


def attempt(action) -> str:
    try:
        return f"ok: {action()!r}"[:200]
    except Exception as exc:  # what the guest sees is the point
        return f"{type(exc).__name__}: {exc}"[:200]


def world() -> dict:
    def connect():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.connect(("127.0.0.1", 22))
            return "connected"

    return {"env": dict(os.environ), "argv": sys.argv, "root": attempt(lambda: os.listdir("/")),
            "etc": attempt(lambda: open("/etc/passwd").read()), "cwd": attempt(os.getcwd),
            "resolve": attempt(lambda: socket.getaddrinfo("127.0.0.1", 80)), "connect": attempt(connect)}


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path_query = request.path_with_query() or "/"
        path, _, query = path_query.partition("?")
        if path == "/":
            respond(response_out, 200, [("content-type", b"text/plain")], [b"Hello, World!\n"])
        elif path == "/echo":
            seen = {"method": method_name(request.method()), "path": path, "query": query,
                    "headers": sorted([k, v.decode()] for k, v in request.headers().entries() if k.startswith("x-"))}
            pieces = list(read_all(request.consume()))  # all read before answering: a client that sends
            # the whole body before it reads (httpx) would otherwise stall a host that streams
            respond(response_out, 200, [("content-type", b"application/octet-stream"),
                                        ("x-echo", json.dumps(seen).encode())], pieces)
        elif path.startswith("/status/"):
            respond(response_out, int(path[len("/status/"):]), [("content-type", b"text/plain")], [b"status\n"])
        elif path == "/headers":
            respond(response_out, 200, [("x-one", b"1"), ("x-many", b"a"), ("x-many", b"b")], [b"headers\n"])
        elif path == "/outbound":
            response, data = fetch(parse_qs(query)["url"][0])
            if response is None:
                respond(response_out, 502, [("content-type", b"text/plain")], [f"error: {data}\n".encode()])
            else:
                respond(response_out, response.status(), [("content-type", b"text/plain")], [data])
        elif path == "/stream":
            mb = int(parse_qs(query).get("mb", ["1"])[0])
            respond(response_out, 200, [("content-type", b"application/octet-stream")],
                    (bytes([i % 251]) * CHUNK for i in range(mb * 16)))
        elif path == "/slow-stream":  # pieces of 128 KiB, a pause between: the client sees them come
            params = parse_qs(query)
            pieces, pause = int(params["n"][0]), int(params["ms"][0]) * 1_000_000
            respond(response_out, 200, [("content-type", b"application/octet-stream")],
                    (pause_then(pause, i) for i in range(pieces)))
        elif path == "/poll-two":  # two pollables in one call: a later timer and a sooner one
            later = monotonic_clock.subscribe_duration(2_000_000_000)
            sooner = monotonic_clock.subscribe_duration(20_000_000)
            ready = poll.poll([later, sooner])
            respond(response_out, 200, [], [json.dumps(list(ready)).encode()])
        elif path == "/sleep":
            with monotonic_clock.subscribe_duration(int(parse_qs(query)["ms"][0]) * 1_000_000) as timer:
                timer.block()
            respond(response_out, 200, [], [b"woke\n"])
        elif path == "/spin":
            while True:
                pass
        elif path == "/flood":
            flood(response_out, int(parse_qs(query)["mb"][0]))
        elif path == "/fields-flood":  # header data only the host holds: n clones of a kb KiB field
            params = parse_qs(query)
            fields = Fields.from_list([("x-big", b"v" * (1024 * int(params["kb"][0])))])
            clones = [fields.clone() for _ in range(int(params["n"][0]))]
            respond(response_out, 200, [], [f"held {len(clones)}\n".encode()])
        elif path == "/random":
            data = random.get_random_bytes(int(parse_qs(query)["n"][0]))
            respond(response_out, 200, [], [str(len(data)).encode()])
        elif path == "/insecure":
            values = [insecure.get_insecure_random_u64() for _ in range(int(parse_qs(query)["n"][0]))]
            respond(response_out, 200, [], [json.dumps(values).encode()])
        elif path == "/exit-after":
            respond(response_out, 200, [], [b"whole\n"])
            sys.exit(0)
        elif path == "/after-finish":
            after_finish(response_out)
        elif path == "/bad-name":
            try:
                Fields.from_list([("x-a\n", b"1")])
                respond(response_out, 200, [], [b"accepted\n"])
            except Err as e:
                respond(response_out, 400, [], [f"refused: {type(e.value).__name__}\n".encode()])
        elif path == "/forge":
            print("\n" + parse_qs(query)["line"][0], flush=True)
            raise RuntimeError("trap after the forged line")
        elif path == "/exit":
            print("exiting now", flush=True)
            sys.exit(3)
        elif path == "/world":
            respond(response_out, 200, [("content-type", b"application/json")], [json.dumps(world()).encode()])
        else:
            respond(response_out, 404, [("content-type", b"text/plain")], [b"not found\n"])
