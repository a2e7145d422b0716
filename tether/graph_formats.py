"""The names `tether graph` accepts, apart from `tether.graphing` so that building the
CLI's parser does not import networkx (`tether status` must start fast)."""

from __future__ import annotations

TEXT_FORMATS = ("mermaid", "dot", "json", "html")
BINARY_FORMATS = ("svg", "png")
FORMATS = ("mermaid", "dot", "svg", "png", "json", "html")
DIRECTIONS = ("TB", "LR")
