"""``assetforge pick``: write a seed candidate into the manifest with tomlkit (comments and
formatting kept), so the choice is reviewed in git like any other edit."""

from __future__ import annotations

import os
import tempfile

from ..candidates import candidate_seed
from ..errors import Problem, UserError
from ..interfaces import AssetSpec
from ..project import Project


def pick_candidate(project: Project, spec: AssetSpec, index: int) -> int:
    """Set ``seed`` of ``spec`` to candidate ``index``'s seed in its manifest; return it."""
    import tomlkit

    count = spec.get("candidates")
    if not count:
        raise UserError([Problem(spec.location, f"{spec.kind}.{spec.id}",
                                 "has no candidates = N: there is nothing to pick")])
    if not 1 <= index <= count:
        raise UserError([Problem(spec.where("candidates"), f"{spec.kind}.{spec.id}.candidates",
                                 f"candidate {index} does not exist (1…{count})")])
    seed = candidate_seed(spec.id, project.seed_salt, index)
    path = spec.source.path
    doc = tomlkit.parse(path.read_text("utf-8"))
    doc[spec.kind][spec.id]["seed"] = seed  # type: ignore[index]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(tomlkit.dumps(doc))
    os.replace(tmp, path)
    return seed
