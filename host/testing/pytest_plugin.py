"""The `wasmlet_function` pytest fixture (registered by the `pytest11` entry point `wasmlet`, so any
test in an environment where wasmlet is installed can ask for it; no conftest needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._harness import FunctionHarness

if TYPE_CHECKING:
    import os


class FunctionFactory:
    """`wasmlet_function(source, **options)`: a `FunctionHarness` closed when the test ends."""

    def __init__(self) -> None:
        self.made: list[FunctionHarness] = []

    def __call__(self, source: str | os.PathLike[str], **options: Any) -> FunctionHarness:
        """A `FunctionHarness(source, **options)` (see its docstring for the options)."""
        harness = FunctionHarness(source, **options)
        self.made.append(harness)
        return harness

    def close(self) -> None:
        """Closes every harness made, newest first."""
        while self.made:
            self.made.pop().close()


@pytest.fixture
def wasmlet_function() -> Iterator[FunctionFactory]:
    """Makes `FunctionHarness`es for this test: `fn = wasmlet_function("path/to/src", config={...})`."""
    factory = FunctionFactory()
    try:
        yield factory
    finally:
        factory.close()
