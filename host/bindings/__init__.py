"""Generated host bindings (see wit/), never edited by hand, and `_abi`, the run-time support they call."""
