"""The project's output cache, local or remote: which store ``cache_dir`` names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .objects import ObjectStore

if TYPE_CHECKING:
    from .project import Project


def open_store(project: Project) -> Any:
    """The project's output store: an ``ObjectStore`` folder, or a ``RemoteObjectStore``
    when ``cache_dir`` is a URL (fsspec and the backend are imported only then)."""
    url = project.cache_url
    if url is None:
        return ObjectStore(project.cache_dir)
    from .remote_cache import remote_store

    return remote_store(url, project.cache_options)
