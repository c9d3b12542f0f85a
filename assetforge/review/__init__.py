"""``assetforge review``: what changed in the outputs, why, and how it looks.

``make_review`` collects (``collect.py``); ``write_html`` writes the self-contained folder
(``index.html``, ``img/``, ``review.json``, ``summary.md``); ``markdown.render`` makes the PR
summary. Torch-free.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..project import Project
from .model import Candidate, Item, Review

__all__ = ["Candidate", "Item", "Review", "make_review", "write_html"]
IMAGE_THREADS = 4


def make_review(project: Project, current_ids: set[str], base: str | None = None,
                with_candidates: bool = True) -> Review:
    from .collect import candidates, from_git, from_records

    review = (from_git(project, base, current_ids) if base
              else from_records(project, current_ids))
    order = {"changed": 0, "new": 1, "removed": 2}
    review.items.sort(key=lambda it: (order[it.status], it.key))
    if with_candidates:
        review.candidates = [c for c in candidates(project) if c.asset in current_ids]
    return review


def write_html(review: Review, folder: Path, title: str) -> Path:
    """Write the review folder (replacing an earlier one); return ``index.html``."""
    from . import html, markdown
    from .images import slug, write_item_images

    if folder.exists():
        shutil.rmtree(folder)
    (folder / "img").mkdir(parents=True)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=IMAGE_THREADS) as pool:  # zlib and PIL release the GIL
        list(pool.map(lambda item: write_item_images(item, folder), review.items))
    for c in review.candidates:
        if c.data is not None:
            c.image = f"img/candidate-{slug(c.job)}-{c.index}.png"
            (folder / c.image).write_bytes(c.data)
    for a in review.animations:  # animated WebP of each animation, beside its frames
        (folder / a["image"]).write_bytes(a["data"])
    data = review.as_dict()
    data["candidates"] = [c for c in data["candidates"] if c["image"]]
    (folder / "review.json").write_text(json.dumps(data, indent=1))
    (folder / "summary.md").write_text(markdown.render(review, "index.html"))
    index = folder / "index.html"
    index.write_text(html.render(data, title), encoding="utf-8")
    return index
