"""What a review holds: one item per output that is new, changed or removed, and candidates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("new", "changed", "removed")


@dataclass
class Side:
    """One side of a comparison: an output's bytes and what made them."""

    data: bytes | None  # None: the bytes are not available (gone from the cache)
    hash: str | None
    recipe: dict[str, Any] | None = None


@dataclass
class Item:
    """One output (an asset, a view, a derived file) that differs between base and now."""

    key: str  # job id ("hero#front", "floor/normal") or, for a git file without a record, path
    asset: str
    output: str  # relative to output_dir
    status: str  # new | changed | removed
    kind: str = ""
    reasons: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # recipe fields that changed (dotted)
    prompt: str = ""
    seed: int | None = None
    model: str = ""
    checks: dict[str, Any] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # old/new/diff -> path in the folder
    size: list[int] = field(default_factory=list)  # [width, height] of the shown image
    diff_fraction: float | None = None  # share of pixels that differ
    pixelated: bool = False  # few colours (pixel art): scale up without smoothing
    old: Side | None = None
    new: Side | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("old")
        d.pop("new")
        d["old_hash"] = self.old.hash if self.old else None
        d["new_hash"] = self.new.hash if self.new else None
        return d


@dataclass
class Candidate:
    asset: str
    job: str
    index: int
    seed: int
    hash: str
    image: str = ""
    data: bytes | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "job": self.job, "index": self.index, "seed": self.seed,
                "hash": self.hash, "image": self.image,
                "pick": f"assetforge pick {self.asset} {self.index}"}


@dataclass
class Review:
    base: str  # "previous records" or the git revision
    items: list[Item]
    unchanged: int
    candidates: list[Candidate] = field(default_factory=list)
    # {asset, name, fps, loop, frames: [job ids], image, data: animated WebP bytes}
    animations: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for it in self.items:
            out[it.status] += 1
        out["unchanged"] = self.unchanged
        out["warnings"] = sum(1 for it in self.items for c in it.checks.values()
                              if not c.get("passed") and c.get("severity") == "warn")
        out["failures"] = sum(1 for it in self.items for c in it.checks.values()
                              if not c.get("passed") and c.get("severity", "fail") == "fail")
        out["candidates"] = len(self.candidates)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"base": self.base, "summary": self.counts(),
                "items": [it.as_dict() for it in self.items],
                "candidates": [c.as_dict() for c in self.candidates],
                "animations": [{k: v for k, v in a.items() if k != "data"}
                               for a in self.animations]}
