"""Typed errors of an invocation: what went wrong in the guest, never a host crash."""

from __future__ import annotations


class InvocationError(Exception):
    """An invocation failed; the store was discarded and the host keeps serving."""

    def __init__(self, message: str, *, function: str = "", output_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.function = function
        self.output_tail = output_tail

    def __str__(self) -> str:
        text = f"{self.function}: {self.message}" if self.function else self.message
        if self.output_tail:
            text += f"\n--- guest output (tail) ---\n{self.output_tail}"
        return text


class Timeout(InvocationError):
    """The guest ran past its deadline and was interrupted."""


class HostBusy(InvocationError):
    """The host had no instance slot free (its pool is full): nothing of the guest ran; retry."""


class OutOfMemory(InvocationError):
    """The guest needed more linear memory than its limit allows."""


class GuestTrap(InvocationError):
    """The guest trapped: a panic, an uncaught exception, `unreachable`, a bad access."""


class LoadError(Exception):
    """A component could not be compiled or does not fit the `function` world."""


class InvalidResponse(InvocationError):
    """The guest finished without a usable response (a 502): none set, an error code, a body it
    dropped unfinished or one over its limit."""
