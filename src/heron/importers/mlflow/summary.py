"""What an import did: counts per kind of thing (imported, skipped, failed, with reasons),
and the progress callback the CLI draws its bar with."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

#: the kinds of things an import counts, in the order the summary shows them
KINDS = (
    "experiments",
    "runs",
    "artifacts",
    "logged models",
    "registered models",
    "model versions",
    "aliases",
)


class Progress(Protocol):
    """Told how much there is to do and each time a piece of it is done."""

    def start(self, kind: str, total: int) -> None: ...

    def advance(self, kind: str, count: int = 1) -> None: ...


class NoProgress:
    """A :class:`Progress` that shows nothing (``--quiet``, not a terminal, the library)."""

    def start(self, kind: str, total: int) -> None:
        pass

    def advance(self, kind: str, count: int = 1) -> None:
        pass


@dataclass(slots=True)
class Failure:
    kind: str
    what: str
    reason: str


@dataclass
class Summary:
    """Counts of an import; ``failures`` and ``skip_reasons`` say why."""

    source: str
    target: str
    imported: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    #: (kind, reason) -> how many things were skipped for it
    skip_reasons: Counter = field(default_factory=Counter)
    #: things imported with a difference worth knowing (a renumbered model version)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    def done(self, kind: str, count: int = 1) -> None:
        self.imported[kind] += count

    def skip(self, kind: str, reason: str, count: int = 1) -> None:
        self.skipped[kind] += count
        self.skip_reasons[(kind, reason)] += count

    def fail(self, kind: str, what: str, reason: str) -> None:
        self.failed[kind] += 1
        self.failures.append(Failure(kind, what, reason))

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "interrupted": self.interrupted,
            "counts": {
                kind: {
                    "imported": self.imported[kind],
                    "skipped": self.skipped[kind],
                    "failed": self.failed[kind],
                }
                for kind in KINDS
            },
            "skipped": [
                {"kind": kind, "reason": reason, "count": count}
                for (kind, reason), count in sorted(self.skip_reasons.items())
            ],
            "notes": list(self.notes),
            "failures": [
                {"kind": f.kind, "what": f.what, "reason": f.reason} for f in self.failures
            ],
        }
