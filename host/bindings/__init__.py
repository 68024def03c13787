"""Generated host bindings (see wit/); never edited by hand."""
