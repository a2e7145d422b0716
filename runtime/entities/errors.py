"""Errors of the entity client API that users catch by name (exported from `tether`)."""

from __future__ import annotations

__all__ = ["UnknownEntity"]


class UnknownEntity(LookupError):
    """The entity has no state (never created, or deleted); the message names the id."""
