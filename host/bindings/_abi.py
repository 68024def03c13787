"""Run-time support the generated host bindings call: typed results, checked primitive
conversions and lifting/lowering of wasmtime's component-value C structs.

Generated modules call these helpers instead of wasmtime-py's reflective
`ValType.convert_*`, so no function type is looked up through FFI per call. Everything that
touches wasmtime-py's private API comes from `wasmlet._wasmtime` (version-checked); the call
helpers are re-exported from there as the same objects, with no wrapper per call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from ctypes import byref, c_void_p
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union

import wasmtime
from wasmtime import component as _component

from .._wasmtime import GuestError as GuestError
from .._wasmtime import HostFunc as HostFunc
from .._wasmtime import Val as Val
from .._wasmtime import ValRecordEntry as _ValRecordEntry
from .._wasmtime import add_func as add_func
from .._wasmtime import byte_vec_new as _byte_vec_new
from .._wasmtime import call as call
from .._wasmtime import flags_new_uninit as _flags_new_uninit
from .._wasmtime import list_delete as _list_delete
from .._wasmtime import list_new_uninit as _list_new_uninit
from .._wasmtime import post_return as post_return
from .._wasmtime import record_delete as _record_delete
from .._wasmtime import record_new_uninit as _record_new_uninit
from .._wasmtime import val_delete as val_delete
from .._wasmtime import val_new as _val_new

T = TypeVar("T")
E = TypeVar("E")

K_BOOL, K_S8, K_U8, K_S16, K_U16, K_S32, K_U32, K_S64, K_U64 = range(9)
K_F32, K_F64, K_CHAR, K_STRING, K_LIST, K_RECORD, K_TUPLE = range(9, 16)
K_VARIANT, K_ENUM, K_OPTION, K_RESULT, K_FLAGS = range(16, 21)

_VAL_SIZE = ctypes.sizeof(Val)
_PAYLOAD_OFFSET = Val.of.offset
_ENTRY_SIZE = ctypes.sizeof(_ValRecordEntry)


class BindingError(TypeError):
    """A value does not fit its WIT type; `path` names the offending field."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def within(self, name: str) -> BindingError:
        """Prefixes the path with an enclosing field, case or index."""
        if not self.path:
            path = name
        elif self.path.startswith("["):
            path = name + self.path
        else:
            path = f"{name}.{self.path}"
        return BindingError(self.message, path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    @staticmethod
    def expected(what: str, value: Any) -> BindingError:
        """An error for a value of the wrong Python type."""
        return BindingError(f"expected {what}, got {type(value).__name__} {_short(value)}")


def _short(value: Any) -> str:
    """A value's repr cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    """The success case of a WIT `result`."""

    value: T
    tag = "ok"


@dataclass(frozen=True, slots=True)
class Err(Generic[E]):
    """The error case of a WIT `result`."""

    value: E
    tag = "err"


Result = Union[Ok[T], Err[E]]


@dataclass(frozen=True, slots=True)
class Some(Generic[T]):
    """Wraps the payload of an `option<option<T>>` so `some(none)` differs from `none`."""

    value: T


# ---------------------------------------------------------------- primitives

def _int_checker(kind: int, attr: str, lo: int, hi: int, name: str) -> tuple[
    Callable[[Any, Any], None], Callable[[Any], int]
]:
    def lower(v: Any, c: Any) -> None:
        if v.__class__ is not int:
            if not isinstance(v, int) or isinstance(v, bool):
                raise BindingError.expected(name, v)
        if v < lo or v > hi:
            raise BindingError(f"{v} is out of range for {name} ({lo}..{hi})")
        c.kind = kind
        setattr(c.of, attr, v)

    def lift(c: Any) -> int:
        return int(getattr(c.of, attr))

    return lower, lift


lower_u8, lift_u8 = _int_checker(K_U8, "u8", 0, 0xFF, "u8")
lower_u16, lift_u16 = _int_checker(K_U16, "u16", 0, 0xFFFF, "u16")
lower_u32, lift_u32 = _int_checker(K_U32, "u32", 0, 0xFFFF_FFFF, "u32")
lower_u64, lift_u64 = _int_checker(K_U64, "u64", 0, 0xFFFF_FFFF_FFFF_FFFF, "u64")
lower_s8, lift_s8 = _int_checker(K_S8, "s8", -0x80, 0x7F, "s8")
lower_s16, lift_s16 = _int_checker(K_S16, "s16", -0x8000, 0x7FFF, "s16")
lower_s32, lift_s32 = _int_checker(K_S32, "s32", -0x8000_0000, 0x7FFF_FFFF, "s32")
lower_s64, lift_s64 = _int_checker(
    K_S64, "s64", -0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, "s64"
)


def lower_bool(v: Any, c: Any) -> None:
    """Writes a `bool` (only a real bool: 0 and 1 are refused)."""
    if v.__class__ is not bool:
        raise BindingError.expected("bool", v)
    c.kind = K_BOOL
    c.of.boolean = v


def lift_bool(c: Any) -> bool:
    """Reads a `bool`."""
    return bool(c.of.boolean)


def _lower_float(kind: int, attr: str, name: str) -> Callable[[Any, Any], None]:
    def lower(v: Any, c: Any) -> None:
        if not isinstance(v, (float, int)) or isinstance(v, bool):
            raise BindingError.expected(name, v)
        c.kind = kind
        setattr(c.of, attr, float(v))

    return lower


lower_f32 = _lower_float(K_F32, "f32", "f32")
lower_f64 = _lower_float(K_F64, "f64", "f64")


def lift_f32(c: Any) -> float:
    """Reads an `f32`."""
    return float(c.of.f32)


def lift_f64(c: Any) -> float:
    """Reads an `f64`."""
    return float(c.of.f64)


def lower_char(v: Any, c: Any) -> None:
    """Writes a `char`: one Unicode scalar value (surrogates are refused)."""
    if v.__class__ is not str or len(v) != 1:
        raise BindingError.expected("char (a one-character str)", v)
    code = ord(v)
    if 0xD800 <= code <= 0xDFFF:
        raise BindingError(f"U+{code:04X} is a surrogate, not a Unicode scalar value")
    c.kind = K_CHAR
    c.of.character = code


def lift_char(c: Any) -> str:
    """Reads a `char`."""
    return chr(c.of.character)


def lower_string(v: Any, c: Any) -> None:
    """Writes a `string` as one UTF-8 buffer (lone surrogates are refused)."""
    if v.__class__ is not str:
        if not isinstance(v, str):
            raise BindingError.expected("str", v)
    try:
        data = v.encode()
    except UnicodeEncodeError as exc:
        raise BindingError(f"string is not valid Unicode ({exc.reason} at {exc.start})") from None
    _byte_vec_new(byref(c.of.string), len(data), data)
    c.kind = K_STRING


def lift_string(c: Any) -> str:
    """Reads a `string` from its UTF-8 buffer."""
    s = c.of.string
    return ctypes.string_at(s.data, s.size).decode()


def lower_bytes(v: Any, c: Any) -> None:
    """`list<u8>` without a Python operation per byte: strided copies into
    wasmtime's value array (one 32-byte value per byte)."""
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise BindingError.expected("bytes", v)
    data = memoryview(v).cast("B")
    n = len(data)
    lst = c.of.list
    _list_new_uninit(byref(lst), n)
    if n:
        raw = (ctypes.c_char * (n * _VAL_SIZE)).from_address(
            ctypes.cast(lst.data, c_void_p).value or 0
        )
        view = memoryview(raw).cast("B")
        view[0::_VAL_SIZE] = _kind_run(n)
        view[_PAYLOAD_OFFSET::_VAL_SIZE] = data
    c.kind = K_LIST


_KIND_U8_RUN = bytes([K_U8]) * 65536


def _kind_run(n: int) -> bytes:
    """`n` bytes of the `u8` kind tag, sliced from a shared run when it is long enough."""
    if n <= len(_KIND_U8_RUN):
        return _KIND_U8_RUN[:n]
    return bytes([K_U8]) * n


def lift_bytes(c: Any) -> bytes:
    """Reads a `list<u8>` with one strided copy."""
    lst = c.of.list
    n = lst.size
    if not n:
        return b""
    raw = (ctypes.c_char * (n * _VAL_SIZE)).from_address(ctypes.cast(lst.data, c_void_p).value or 0)
    return bytes(memoryview(raw).cast("B")[_PAYLOAD_OFFSET::_VAL_SIZE])


# ------------------------------------------------------------ compound values

def set_name(name: Any, data: bytes) -> None:
    """Fills a `wasm_name_t` (record field, variant case, enum or flag name)."""
    _byte_vec_new(byref(name), len(data), data)


def name_of(name: Any) -> bytes:
    """The bytes of a `wasm_name_t`."""
    return ctypes.string_at(name.data, name.size)


def record_new(rec: Any, n: int) -> Any:
    """Allocates `n` zeroed record entries (zeroed = safe to delete)."""
    _record_new_uninit(byref(rec), n)
    ctypes.memset(rec.data, 0, n * _ENTRY_SIZE)
    return rec.data


def record_delete(rec: Any) -> None:
    """Frees a record's entries (on a failed lowering)."""
    _record_delete(byref(rec))


def list_new(lst: Any, n: int) -> Any:
    """Allocates `n` zeroed values for a list or tuple."""
    _list_new_uninit(byref(lst), n)
    if n:
        ctypes.memset(lst.data, 0, n * _VAL_SIZE)
    return lst.data


def list_delete(lst: Any) -> None:
    """Frees a list's or tuple's values (on a failed lowering)."""
    _list_delete(byref(lst))


def flags_new(fl: Any, names: list[bytes]) -> None:
    """Fills a `flags` value with the names of the flags that are set."""
    _flags_new_uninit(byref(fl), len(names))
    for i, name in enumerate(names):
        _byte_vec_new(byref(fl.data[i]), len(name), name)


def boxed(tmp: Any) -> Any:
    """Moves a value to the heap, as variant, option and result payloads are held."""
    return _val_new(byref(tmp))


def check_length(v: Any, n: int, what: str) -> None:
    """Refuses anything but an `n`-tuple for a WIT tuple."""
    if not isinstance(v, tuple) or len(v) != n:
        raise BindingError.expected(f"a {n}-tuple ({what})", v)


def check_list(v: Any) -> None:
    """Refuses anything but a list or tuple for a WIT list."""
    if not isinstance(v, (list, tuple)):
        raise BindingError.expected("list", v)


# ------------------------------------------------------------------- calls
# `call`, `post_return`, `add_func` and `GuestError` are wasmlet._wasmtime's own objects.

def get_func(store: wasmtime.Store, instance: _component.Instance,
             index: _component.ExportIndex) -> _component.Func:
    """The export at `index` of an instance, which must be a function."""
    func = instance.get_func(store, index)
    if func is None:
        raise GuestError("export is not a function")
    return func


def export_index(component: _component.Component, name: str,
                 within: str | None = None) -> _component.ExportIndex:
    """Looks an export up once per component (not per call)."""
    parent = None
    if within is not None:
        parent = component.get_export_index(within)
        for other in _compatible(within) if parent is None else ():
            parent = component.get_export_index(other)
            if parent is not None:
                break
        if parent is None:
            raise LookupError(f"component does not export {within!r}")
    idx = component.get_export_index(name, parent)
    if idx is None:
        where = f"{within}#{name}" if within else name
        raise LookupError(f"component does not export {where!r}")
    return idx


def _compatible(name: str, patches: int = 64) -> list[str]:
    """The other patch versions of an interface (`0.2.0` ... `0.2.63` for `0.2.12`), newest first:
    wasmtime's linker matches a component's imports the same way, so a component exporting
    `wasi:http/incoming-handler@0.2.0` is called by bindings made from `@0.2.12`."""
    base, _, version = name.partition("@")
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return []
    series = f"{parts[0]}.{parts[1]}"
    return [f"{base}@{series}.{p}" for p in range(patches - 1, -1, -1) if f"{series}.{p}" != version]


__all__ = [
    "BindingError", "E", "Err", "GuestError", "HostFunc", "K_BOOL", "K_CHAR", "K_ENUM", "K_F32", "K_F64", "K_FLAGS",
    "K_LIST", "K_OPTION", "K_RECORD", "K_RESULT", "K_S8", "K_S16", "K_S32", "K_S64", "K_STRING", "K_TUPLE", "K_U8",
    "K_U16", "K_U32", "K_U64", "K_VARIANT", "Ok", "Result", "Some", "T", "Val", "add_func", "boxed", "call",
    "check_length", "check_list", "describe_func", "describe_type", "export_index", "export_type", "flags_new",
    "get_func", "lift_bool", "lift_bytes", "lift_char", "lift_f32", "lift_f64", "lift_s8", "lift_s16", "lift_s32",
    "lift_s64", "lift_string", "lift_u8", "lift_u16", "lift_u32", "lift_u64", "list_delete", "list_new",
    "lower_bool", "lower_bytes", "lower_char", "lower_f32", "lower_f64", "lower_s8", "lower_s16", "lower_s32",
    "lower_s64", "lower_string", "lower_u8", "lower_u16", "lower_u32", "lower_u64", "name_of", "post_return",
    "record_delete", "record_new", "set_name", "val_delete",
]


# ------------------------------------------------------------ type checking

def describe_type(t: Any) -> str:
    """A canonical text for a wasmtime-py component value type, to compare with
    the one the generator wrote for the WIT (`describe` in `_python.py`)."""
    c = _component
    if isinstance(t, c.ListType):
        return f"list<{describe_type(t.element)}>"
    if isinstance(t, c.RecordType):
        return "record{" + ",".join(f"{n}:{describe_type(v)}" for n, v in t.fields) + "}"
    if isinstance(t, c.TupleType):
        return "tuple<" + ",".join(describe_type(e) for e in t.elements) + ">"
    if isinstance(t, c.VariantType):
        return "variant{" + ",".join(n if v is None else f"{n}({describe_type(v)})" for n, v in t.cases) + "}"
    if isinstance(t, c.EnumType):
        return "enum{" + ",".join(t.names) + "}"
    if isinstance(t, c.FlagsType):
        return "flags{" + ",".join(t.names) + "}"
    if isinstance(t, c.OptionType):
        return f"option<{describe_type(t.payload)}>"
    if isinstance(t, c.ResultType):
        ok = "_" if t.ok is None else describe_type(t.ok)
        err = "_" if t.err is None else describe_type(t.err)
        return f"result<{ok},{err}>"
    if isinstance(t, c.OwnType):
        return "own"
    if isinstance(t, c.BorrowType):
        return "borrow"
    return type(t).__name__.lower()


def describe_func(ft: Any) -> str:
    """`func(name:type,…)->type` for a wasmtime-py component function type."""
    params = ",".join(f"{n}:{describe_type(t)}" for n, t in ft.params)
    result = ft.result
    return f"func({params})" + ("" if result is None else f"->{describe_type(result)}")


def export_type(component: _component.Component, engine: wasmtime.Engine, name: str,
                within: str | None = None) -> str | None:
    """The description of a component's exported function `name` (in exported instance `within`),
    if it has one."""
    items = component.type.exports(engine)
    if within is not None:
        outer = items.get(within)
        outer_ty = getattr(outer, "ty", None)
        if not isinstance(outer_ty, _component.ComponentInstanceType):
            return None
        items = outer_ty.exports(engine)
    item = items.get(name)
    if item is None:
        return None
    ty = item.ty
    return describe_func(ty) if isinstance(ty, _component.FuncType) else None
