"""The `wasmlet:faas` versions the host serves: the newest, and every released one before it.

Capabilities and the HTTP host speak the newest contract (`bindings.faas`). A component built
against an earlier version gets that version's bindings, generated from its frozen WIT in
`wit/versions/`, and values cross between the two through an adapter: the event and the
response here, each hostcall's arguments and results in `_Legacy*`. See wit/versions/README.md.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from wasmtime.component import Component, Linker

from .bindings import faas, faas_0_1_0, faas_0_2_0
from .bindings._abi import Err, Ok, Some
from .bodies import body_bytes
from .capabilities._packed import unpack_rows

NEWEST = "0.3.0"
LEGACY_CONTRACT = "0.1.0"


@dataclass(frozen=True)
class Contract:
    """One contract version: its bindings, and how its values become the newest version's."""

    version: str
    bindings: ModuleType
    to_guest: Callable[[Any], Any]
    """A newest-version value (an event) as this version's."""
    from_guest: Callable[[Any], Any]
    """This version's value (a response) as the newest version's."""
    adapt_imports: Callable[[Any], Any]
    """The newest version's hostcall implementations, as this version's."""

    @property
    def adapts(self) -> bool:
        """Values cross through the adapter (an earlier version); the newest takes them as they are."""
        return self.version != NEWEST

    @property
    def handle_type(self) -> str:
        """The type `handle` has in this version (how a component's version is recognised)."""
        return str(self.bindings.FunctionExports.TYPES["handle"])

    def exports(self, component: Component) -> Any:
        """Typed callers of the component's exports."""
        return self.bindings.FunctionExports(component)

    def add_to_linker(self, linker: Linker, imports: Callable[[], Any]) -> None:
        """Defines this version's imports; `imports` gives the newest version's implementations."""
        if not self.adapts:
            self.bindings.add_function_to_linker(linker, imports)
            return
        last = threading.local()  # one adapter per invocation, not one per hostcall

        def adapted() -> Any:
            newest = imports()
            if getattr(last, "newest", None) is not newest:
                last.newest, last.adapted = newest, self.adapt_imports(newest)
            return last.adapted

        self.bindings.add_function_to_linker(linker, adapted)


class Converter:
    """Rebuilds a value of one generated bindings module with the same-named classes of another
    (records, variant cases and enums keep their names across versions); `special` handles
    classes that changed."""

    def __init__(self, target: ModuleType, special: dict[str, Callable[[Any], Any]] | None = None) -> None:
        self.target = target
        self.special = special or {}
        self._plans: dict[type, tuple[type, tuple[str, ...]] | None] = {}

    def __call__(self, value: Any) -> Any:
        kind = value.__class__
        if kind in (str, int, float, bool, bytes, type(None)):
            return value
        if kind is list:
            return [self(v) for v in value]
        if kind is tuple:
            return tuple(self(v) for v in value)
        if kind in (Ok, Err, Some):
            return kind(self(value.value))
        if isinstance(value, enum.Enum):
            return getattr(self.target, kind.__name__)[value.name]
        special = self.special.get(kind.__name__)
        if special is not None:
            return special(value)
        plan = self._plans.get(kind)
        if plan is None:
            if not dataclasses.is_dataclass(value):
                raise TypeError(f"cannot convert {kind.__name__} between contract versions")
            plan = self._plans[kind] = (getattr(self.target, kind.__name__), tuple(f.name for f in dataclasses.fields(value)))
        cls, names = plan
        return cls(*(self(getattr(value, n)) for n in names))


# ------------------------------------------------------------------------- 0.2.0

_to_0_2 = Converter(faas_0_2_0)
"""Newest → 0.2.0: every value a 0.2.0 guest can receive has a same-named class there (a `message` or
`schedule` event never reaches one: triggers are refused at deploy for components before 0.3.0)."""
_from_0_2 = Converter(faas)
"""0.2.0 → newest: every 0.2.0 value exists unchanged in the newest version."""


class _SameShape:
    """One interface of the newest version as an earlier version whose functions and types are the
    same (only the classes differ): arguments are rebuilt as the newest's, results as the earlier's."""

    def __init__(self, newest: Any, to_old: Converter, from_old: Converter) -> None:
        self._newest, self._to_old, self._from_old = newest, to_old, from_old

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._newest, name)
        to_old, from_old = self._to_old, self._from_old

        def call(*args: Any) -> Any:
            return to_old(method(*(from_old(a) for a in args)))

        setattr(self, name, call)  # looked up once per invocation and interface
        return call


def _imports_0_2(newest: faas.FunctionImports) -> faas_0_2_0.FunctionImports:
    """0.2.0 imports every interface of the newest but `messaging`, with the same shapes."""
    return faas_0_2_0.FunctionImports(*(_SameShape(getattr(newest, name), _to_0_2, _from_0_2)
                                        for name in ("log", "config", "kv", "sql", "outbound_http", "modules")))


# ------------------------------------------------------------------------- 0.1.0

_to_0_1 = Converter(faas_0_1_0, {"BodyOctets": lambda b: faas_0_1_0.BodyBytes(body_bytes(b))})
"""Newest → 0.1.0: an `octets` body (new in 0.2.0) becomes `bytes`."""
_from_0_1 = Converter(faas, {"ValueBlob": lambda v: faas.ValueBlob(bytes(v.value).decode("latin-1"))})
"""0.1.0 → newest: every 0.1.0 value exists in the newest version; an SQL blob's bytes become octets."""


class _LegacyLog:
    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def log(self, level: Any, message: str) -> None:
        self.newest.log(_from_0_1(level), message)


class _LegacyConfig:
    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def get(self, key: str) -> Any:
        return _to_0_1(self.newest.get(key))


class _LegacyKv:
    """0.1.0 kv values are `list<u8>`; the newest are `body`."""

    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def get(self, store: str, key: str) -> Any:
        result = self.newest.get(store, key)
        if isinstance(result, Ok):
            return Ok(None if result.value is None else body_bytes(result.value))
        return _to_0_1(result)

    def set(self, store: str, key: str, value: bytes) -> Any:
        return _to_0_1(self.newest.set(store, key, faas.BodyBytes(value)))

    def delete(self, store: str, key: str) -> Any:
        return _to_0_1(self.newest.delete(store, key))

    def keys(self, store: str, prefix: str) -> Any:
        return _to_0_1(self.newest.keys(store, prefix))


class _LegacySql:
    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def execute(self, database: str, statement: str, params: list[Any]) -> Any:
        return _to_0_1(self.newest.execute(database, statement, _from_0_1(params)))

    def query(self, database: str, statement: str, params: list[Any]) -> Any:
        """0.1.0 rows are one `value` per cell; the newest are packed (unpacked here)."""
        result = self.newest.query(database, statement, _from_0_1(params))
        if isinstance(result, Ok):
            rows = result.value
            return Ok(faas_0_1_0.Rows(rows.columns, [[_value_0_1(v) for v in row] for row in unpack_rows(rows.packed)]))
        return _to_0_1(result)


def _value_0_1(v: Any) -> Any:
    """A Python value as a 0.1.0 `sql.value`."""
    if v is None:
        return faas_0_1_0.ValueNull()
    if isinstance(v, int):
        return faas_0_1_0.ValueInteger(v)
    if isinstance(v, float):
        return faas_0_1_0.ValueReal(v)
    if isinstance(v, bytes):
        return faas_0_1_0.ValueBlob(v)
    return faas_0_1_0.ValueText(str(v))


class _LegacyOutbound:
    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def send(self, request: Any) -> Any:
        return _to_0_1(self.newest.send(_from_0_1(request)))


class _LegacyModules:
    def __init__(self, newest: Any) -> None:
        self.newest = newest

    def call(self, module: str, request: Any) -> Any:
        return _to_0_1(self.newest.call(module, _from_0_1(request)))


def _imports_0_1(newest: faas.FunctionImports) -> faas_0_1_0.FunctionImports:
    return faas_0_1_0.FunctionImports(_LegacyLog(newest.log), _LegacyConfig(newest.config), _LegacyKv(newest.kv),
                                      _LegacySql(newest.sql), _LegacyOutbound(newest.outbound_http),
                                      _LegacyModules(newest.modules))


CONTRACTS: dict[str, Contract] = {
    NEWEST: Contract(NEWEST, faas, lambda v: v, lambda v: v, lambda imports: imports),
    "0.2.0": Contract("0.2.0", faas_0_2_0, _to_0_2, _from_0_2, _imports_0_2),
    LEGACY_CONTRACT: Contract(LEGACY_CONTRACT, faas_0_1_0, _to_0_1, _from_0_1, _imports_0_1),
}
"""Every contract version the host serves, newest first."""


def contract_of(imports: tuple[str, ...], handle_type: str | None) -> Contract | None:
    """The contract a component was built against: the version its `wasmlet:faas` imports name,
    else (importing none of them) the one whose `handle` has its export's type."""
    named = {name.rsplit("@", 1)[1] for name in imports if name.startswith("wasmlet:faas/") and "@" in name}
    if len(named) == 1:
        contract = CONTRACTS.get(named.pop())
        if contract is not None and (handle_type is None or handle_type == contract.handle_type):
            return contract
        return None
    if named:
        return None  # imports from two versions at once: no host version matches
    for contract in CONTRACTS.values():
        if handle_type == contract.handle_type:
            return contract
    return None
