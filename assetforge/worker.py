"""The worker side of a remote executor: renders jobs exactly as the local executor does.

Kept apart from ``executors.py`` (which the engine imports) because it builds an engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .executors import Rendered
    from .plan import JobPlan


class WorkerRenderer:
    """Renders jobs in a worker process exactly as the local executor does.

    Loads the project (and its plugins: installed ones, and the project's plugin folder)
    once; keeps loaded models warm across jobs. Never opens the object store or the records.
    """

    def __init__(self, project_root: str):
        from .engine import Builder  # here: the engine imports executors, not this module
        from .project import load_project

        self.builder = Builder(load_project(Path(project_root)))

    def __call__(self, jp: JobPlan) -> Rendered:
        if jp.generator is None and jp.job.model in self.builder.project.models:
            cfg = self.builder.project.models[jp.job.model]
            jp.generator = self.builder.plugins.generator_for(cfg)
        return self.builder.render_result(jp)

    @property
    def model_loads(self) -> int:
        return self.builder.models.loads
