"""What a lowered `for` loop (or comprehension) walks across suspensions.

A loop whose body awaits is lowered to `_seq = iter_source(x)`, then, per item, `if _i <
len(_seq)` and `target = _seq[_i]; _i += 1`: only `_seq` and `_i` live in the frame, so
the iteration must be a value the frame codec can save, with Python's semantics:

- a list, tuple, str, bytes or range is indexed in place: appends made by the loop's
  body are seen, as a list iterator sees them;
- a dict (Counter, OrderedDict, defaultdict too), its `keys()`, `values()` or `items()`,
  and a set walk the object itself (a `DictWalk`, `SetWalk`): a value changed during the
  loop is seen, and a size changed raises Python's RuntimeError at the next item;
- `enumerate`, `zip` and `reversed` over those are walked as their position (`Enumerate`,
  `Zip`, `Reversed`), so they see what the underlying object sees;
- any other iterator (a generator, `map`, `filter`, itertools) cannot be saved: it is
  refused with a TypeError at the loop, rather than run ahead of the loop's awaits;
- any other iterable (a user's container) is materialised once, at loop entry.

Each walk obeys the loop's protocol: while `len(walk) > i`, `walk[i]` is the next item,
asked for in order. The walk classes are `saveable`: a frame keeps them as their fields,
the dict or list they walk kept with its identity.
"""

from __future__ import annotations

import gc
from collections import OrderedDict, deque
from typing import Any

from runtime.values import saveable

_SEQUENCES = (list, tuple, str, bytes, range)


@saveable
class DictWalk:
    """Keys, values or items of a dict, in the order they had at loop entry."""

    def __init__(self, mapping: dict[Any, Any], kind: str) -> None:
        self.mapping = mapping
        self.kind = kind  # "keys", "values" or "items"
        # a dict's own storage, as its views read it (a subclass's __getitem__ aside); an
        # OrderedDict's own order (move_to_end changes it, not the storage's)
        self.keys = list(mapping) if isinstance(mapping, OrderedDict) \
            else list(dict.keys(mapping))
        self.size = len(mapping)

    def __len__(self) -> int:
        if len(self.mapping) != self.size:
            raise RuntimeError(f"{_dict_name(self.mapping)} changed size during iteration")
        return len(self.keys)

    def __getitem__(self, i: int) -> Any:
        key = self.keys[i]
        if not dict.__contains__(self.mapping, key):
            raise RuntimeError(f"{_dict_name(self.mapping)} keys changed during iteration")
        if self.kind == "keys":
            return key
        value = dict.__getitem__(self.mapping, key)
        return value if self.kind == "values" else (key, value)


def _dict_name(mapping: dict[Any, Any]) -> str:
    return "OrderedDict" if type(mapping).__name__ == "OrderedDict" else "dictionary"


@saveable
class SetWalk:
    """The members of a set (or deque), in their order at loop entry."""

    def __init__(self, items: Any, what: str) -> None:
        self.source = items
        self.what = what  # the RuntimeError's wording when the size changes
        self.items = list(items)
        self.size = len(items)

    def __len__(self) -> int:
        if len(self.source) != self.size:
            raise RuntimeError(self.what)
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


@saveable
class Offset:
    """A sequence iterator already advanced by `start` items."""

    def __init__(self, seq: Any, start: int) -> None:
        self.seq = seq
        self.start = start

    def __len__(self) -> int:
        return max(0, len(self.seq) - self.start)

    def __getitem__(self, i: int) -> Any:
        return self.seq[self.start + i]


@saveable
class Reversed:
    """`reversed(seq)`: from `index` down; once it runs off the sequence it stays done."""

    def __init__(self, seq: Any, index: int) -> None:
        self.seq = seq
        self.index = index
        self.count = 0
        self.done = False

    def __len__(self) -> int:
        if not self.done and not 0 <= self.index < len(self.seq):
            self.done = True
        return self.count if self.done else self.count + 1

    def __getitem__(self, i: int) -> Any:
        item = self.seq[self.index]
        self.index -= 1
        self.count += 1
        return item


@saveable
class Enumerate:
    def __init__(self, inner: Any, start: int) -> None:
        self.inner = inner
        self.start = start

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> Any:
        return (self.start + i, self.inner[i])


@saveable
class Zip:
    """`zip(...)`: stops at the first exhausted walk, as zip stops at its first exhausted
    iterator; `strict` raises zip's ValueError when they differ."""

    def __init__(self, walks: list[Any], strict: bool) -> None:
        self.walks = walks
        self.strict = strict
        self.count = 0

    def __len__(self) -> int:
        ended = [len(w) <= self.count for w in self.walks]
        if not any(ended):
            return self.count + 1
        if self.strict and not all(ended):
            first = ended.index(True)
            # zip's own wording: the first argument that differs from those before it
            at, what = (ended.index(False), "longer") if first == 0 else (first, "shorter")
            before = "argument 1" if at == 1 else f"arguments 1-{at}"
            raise ValueError(f"zip() argument {at + 1} is {what} than {before}")
        return self.count

    def __getitem__(self, i: int) -> Any:
        self.count += 1
        return tuple(w[i] for w in self.walks)


def iter_source(value: Any) -> Any:
    """What a lowered loop indexes into (see the module docstring)."""
    if isinstance(value, _SEQUENCES):
        return value
    if isinstance(value, dict) and type(value).__iter__ in (dict.__iter__, OrderedDict.__iter__):
        return DictWalk(value, "keys")
    view = _VIEWS.get(type(value))
    if view is not None:
        return DictWalk(_underlying(value, dict), view)
    if isinstance(value, set | frozenset):
        return SetWalk(value, "Set changed size during iteration")
    if isinstance(value, deque):
        return SetWalk(value, "deque mutated during iteration")
    if type(value) in _WALKED_ITERATORS:
        return _iterator_walk(value)
    if iter(value) is value:
        raise TypeError(
            f"a loop whose body awaits cannot walk a {type(value).__name__}: an iterator "
            "runs ahead of the loop and cannot be saved in a checkpoint; iterate a list "
            f"(`for x in list(...)`) or the collection itself"
        )
    return list(value)


_VIEWS = {type({}.keys()): "keys", type({}.values()): "values", type({}.items()): "items",
          type(OrderedDict().keys()): "keys", type(OrderedDict().values()): "values",
          type(OrderedDict().items()): "items"}
_ITERATOR_KINDS: dict[type, str] = {
    type(iter({})): "keys", type(iter({}.values())): "values", type(iter({}.items())): "items",
}
_EMPTY: tuple[Any, ...] = ([], (), "", b"", range(0), "\u0100")
_SEQUENCE_ITERATORS: set[type] = {type(iter(x)) for x in _EMPTY}
_WALKED_ITERATORS = {enumerate, zip, reversed, type(reversed([])), type(iter(set())),
                     *_ITERATOR_KINDS, *_SEQUENCE_ITERATORS}


def _underlying(obj: Any, kind: type) -> Any:
    """The dict or set a view or iterator reads (CPython: its only referent of that kind)."""
    for ref in gc.get_referents(obj):
        if isinstance(ref, kind):
            return ref
    raise TypeError(f"cannot find what the {type(obj).__name__} walks")


def _iterator_walk(it: Any) -> Any:
    """A fresh (or, for sequences, partly used) built-in iterator as a walk."""
    kind = type(it)
    if kind in _SEQUENCE_ITERATORS:
        _fn, (seq,), *state = it.__reduce__()
        start = state[0] if state else 0
        return seq if start == 0 else Offset(seq, start)
    if kind is enumerate:
        _fn, (inner, start) = it.__reduce__()
        return Enumerate(iter_source(inner), start)
    if kind is zip:
        _fn, inners, *state = it.__reduce__()
        return Zip([iter_source(inner) for inner in inners], bool(state and state[0]))
    if kind in (reversed, type(reversed([]))):
        _fn, args, *state = it.__reduce__()
        seq = args[0] if args else ()
        return Reversed(seq, state[0] if state else -1)
    source = _underlying(it, dict if kind in _ITERATOR_KINDS else set)
    if it.__length_hint__() != len(source):
        raise TypeError(f"a loop whose body awaits cannot walk a {kind.__name__} that was "
                        "partly used: its position cannot be saved")
    if kind in _ITERATOR_KINDS:
        return DictWalk(source, _ITERATOR_KINDS[kind])
    return SetWalk(source, "Set changed size during iteration")
