"""The ``animation`` plugin's hooks: anchor alignment of a character's animation frames.

A frame (a job whose view is ``NAME/K``) of a character with ``cutout`` is moved, after the
cutout (order 350), so its anchor — the feet line and the alpha mass just above it — sits at
the bottom centre of the frame (``anchor.py``). The recipe says so (``animation`` part); the
anchor before and after is recorded with each frame (``anchor`` in its metrics), and
``assetforge show`` reports each animation's largest frame-to-frame anchor jitter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assetforge.api import PostProcessor, RecipePart, hookimpl, job_frame

from . import ALPHA_MIN, FOOT_BAND, METHOD, __version__

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import GenerationContext, Job, Project

PLUGIN_NAME = "animation"
ORDER = 350  # after cutout (300): the alpha is final


def _applies(job: Job) -> bool:
    return (bool(job.spec.animations) and job.spec.get("cutout") not in (None, False)
            and job_frame(job) is not None)


@hookimpl
def recipe_parts(job: Job, project: Project) -> RecipePart | None:
    """The anchor method of an aligned frame."""
    if not _applies(job):
        return None
    return RecipePart(PLUGIN_NAME, __version__, {"anchor": METHOD, "foot_band": FOOT_BAND,
                                                 "alpha_min": ALPHA_MIN, "target":
                                                 "bottom-centre"})


def align_frame(image: Image.Image, ctx: GenerationContext) -> Image.Image:
    from .anchor import align

    out, info = align(image)
    if info is not None:
        ctx.metrics["anchor"] = info
    return out


@hookimpl
def register_postprocessors() -> list[PostProcessor]:
    """Anchor alignment of animation frames, order 350 (after cutout)."""
    return [PostProcessor(PLUGIN_NAME, ORDER, align_frame, _applies)]
