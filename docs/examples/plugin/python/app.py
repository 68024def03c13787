"""A plugin for world `example:plugin/plugin`, in Python (componentize-py)."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import host


class WitWorld(wit_world.WitWorld):
    def transform(self, input: str) -> str:
        host.log(f"transforming {len(input.encode())} bytes")
        if not input.strip():
            raise Err("nothing to transform")  # the `err` case of result<string, string>
        return input.upper()
