"""One module per determinism rule; `lint.registry` is the table of codes."""
