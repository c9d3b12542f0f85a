'''A project-local plugin for the asset-graph tests (copied into a project's plugins folder).

* generator "flat": an image of one colour taken from the sha256 of the prompt (so a prompt
  edit changes the bytes, and the same prompt gives the same bytes), with a white pixel at
  (0, 0) so images are not uniform;
* derived step "gray": ``gray = true`` writes ``<output stem>_gray.png``, a grayscale copy;
* ``guide = "@ID" | "path"``: an image input that only enters the recipe;
* step kind "strip": ``[strip.ID] parts = ["pattern", …]`` concatenates the outputs of the
  assets whose ids match the patterns side by side, and writes ``strips/ID.json`` listing
  them; the order of the last build is kept (new frames go at the end).
'''
from __future__ import annotations

import fnmatch
import hashlib
import io
import json

from PIL import Image

from assetforge.api import (
    AssetKind,
    AssetStep,
    DerivedFile,
    DerivedStep,
    ManifestKey,
    ModelIdentity,
    StepResult,
    bytes_hash,
    hookimpl,
)

__version__ = "1"


class Flat:
    name = "flat"
    version = "1"
    schedulers = ("solid",)

    def handles(self, model):
        return model.source == "flat"

    def identify(self, model, project):
        return ModelIdentity(bytes_hash(b"flat"), "flat")

    def recipe_fields(self, job, model):
        return {}

    def validate_scheduler(self, scheduler, family):
        return None

    def load(self, model, project):
        return None

    def device_of(self, loaded):
        return "cpu"

    def generate(self, loaded, job, ctx):
        r, g, b = hashlib.sha256(job.prompt.encode()).digest()[:3]
        image = Image.new("RGB", (job.width, job.height), (r, g, b))
        image.putpixel((0, 0), (255, 255, 255))
        return image


@hookimpl
def register_generators():
    return [Flat()]


def _gray_files(job, project):
    if not job.spec.get("gray"):
        return []
    stem = job.output.rsplit(".", 1)[0]
    return [DerivedFile("gray", f"{stem}_gray.png", {"mode": "L"})]


def _gray(image, file, project):
    return image.convert(file.params["mode"])


@hookimpl
def register_derived_outputs():
    return [DerivedStep("gray", "1", _gray_files, _gray)]


def _strip_inputs(spec, graph, previous):
    ids = []
    for pattern in spec.get("parts", []):
        ids += [i for i in sorted(fnmatch.filter(graph.ids(), pattern))
                if graph.kind(i) != "strip" and i not in ids]
    kept = [i for i in (previous or {}).get("order", []) if i in ids]
    ordered = kept + [i for i in ids if i not in kept]
    return [(f"frames.{i}", f"@{i}") for i in ordered]


def _strip_run(spec, inputs, project, previous):
    images = [Image.open(ref.path).convert("RGB") for ref in inputs.values()]
    strip = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)))
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width
    buf = io.BytesIO()
    strip.save(buf, format="PNG")
    order = [ref.asset for ref in inputs.values()]
    listing = json.dumps({"frames": order}, indent=1).encode()
    return StepResult({f"strips/{spec.id}.png": buf.getvalue(),
                       f"strips/{spec.id}.json": listing}, {"order": order})


STRIP = AssetStep("strip", "1", _strip_inputs, lambda spec: {"parts": spec.get("parts")},
                  _strip_run)


@hookimpl
def register_asset_kinds():
    return [AssetKind("strip", {}, "strips", step=STRIP)]


@hookimpl
def register_manifest_keys():
    return [ManifestKey("gray", (bool,), "also write a grayscale copy"),
            ManifestKey("guide", (str,), "an image input the recipe holds (nothing else)",
                        inputs=lambda v: [("guide", v)]),
            ManifestKey("parts", (list,), "asset id patterns", kinds=("strip",))]
