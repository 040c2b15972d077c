"""Name → object registries with "did you mean" hints.

Every name a config can hold (rule, env, searcher, neuron kind) resolves through a `Registry`,
so an unknown name always fails the same way: one line naming the bad value, the closest
registered names, and where to look.
"""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from pdlf.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A hint sentence naming the closest of `choices` to `name`, or all of them."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "choose one of: " + ", ".join(sorted(choices))


class Registry(Generic[T]):
    """An ordered map from names to objects of one kind (e.g. "plasticity rule")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}: {did_you_mean(str(name), self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
