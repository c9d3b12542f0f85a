"""A git revision's output folder, read through git plumbing: no checkout, no work tree change."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from ..errors import UserError
from ..project import Project


class GitBase:
    def __init__(self, project: Project, ref: str):
        self.project, self.ref = project, ref
        self.top = Path(self._git("rev-parse", "--show-toplevel").decode().strip())
        try:
            self.prefix = project.output_dir.relative_to(self.top.resolve()).as_posix()
        except ValueError:
            raise UserError(f"output_dir {project.output_dir} is outside the git repository "
                            f"{self.top}") from None
        self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                  error=f"--base {ref}: no such git revision")

    def _git(self, *args: str, data: bytes | None = None, error: str | None = None) -> bytes:
        try:
            res = subprocess.run(["git", *args], cwd=self.project.root, input=data,
                                 capture_output=True, check=False)
        except FileNotFoundError:
            raise UserError("--base needs git, and git is not installed") from None
        if res.returncode != 0:
            msg = error or f"git {' '.join(args[:2])} failed: {res.stderr.decode().strip()}"
            raise UserError(msg)
        return res.stdout

    def outputs(self) -> dict[str, str]:
        """PNG files under output_dir at the revision: path relative to output_dir -> blob sha."""
        raw = self._git("ls-tree", "-r", "-z", "--full-tree", self.ref, "--", self.prefix)
        out = {}
        for entry in raw.split(b"\0"):
            if not entry:
                continue
            meta, _tab, path = entry.decode().partition("\t")
            _mode, kind, sha = meta.split()
            if kind == "blob" and path.lower().endswith(".png"):
                out[path[len(self.prefix) + 1:]] = sha
        return out

    @staticmethod
    def blob_sha(data: bytes) -> str:
        """The sha git names ``data`` by, without running git (sha1 repositories)."""
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def read_blobs(self, shas: list[str]) -> dict[str, bytes]:
        """Blob contents in one ``git cat-file --batch`` call."""
        shas = list(dict.fromkeys(shas))
        if not shas:
            return {}
        raw = self._git("cat-file", "--batch", data=("\n".join(shas) + "\n").encode())
        out, pos = {}, 0
        for sha in shas:
            end = raw.index(b"\n", pos)
            header = raw[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[1] == b"missing":
                continue
            size = int(header[2])
            out[sha] = raw[pos:pos + size]
            pos += size + 1
        return out
