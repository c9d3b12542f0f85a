"""A remote output cache on a real S3 API (moto's server on localhost, through s3fs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli

from assetforge.engine import Builder
from assetforge.hashing import bytes_hash
from assetforge.objects import collect_garbage
from assetforge.project import load_project
from assetforge.stores import open_store

MANIFEST = """\
[texture.grass]
prompt = "grass"

[texture.rock]
prompt = "rock"
"""
BUCKET = "assetforge-cache"
SECRET = "s3cr3t-never-printed"  # the secret key the tests' environment holds
DAY = 86400.0


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A real S3 HTTP API on localhost with one bucket; yields its endpoint URL.

    Credentials and the endpoint come from the environment, as on a CI runner."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in (*env, "AWS_ENDPOINT_URL")}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture
def url(s3: str) -> str:
    """A fresh prefix of the bucket for each test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


def keys(endpoint: str, url: str) -> dict[str, bytes]:
    """Every object under ``url``, read with boto3 (not through the code under test)."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    prefix = url.split("/", 3)[3] + "/"
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
            for o in listed}


def config(url: str, endpoint: str | None) -> str:
    opts = f'cache_options = {{ endpoint_url = "{endpoint}" }}\n' if endpoint else ""
    return f'cache_dir = "{url}"\n{opts}'


def project(make_project, name: str, url: str, endpoint: str | None) -> Path:
    from conftest import BASE_CONFIG

    cfg = BASE_CONFIG.replace('seed_salt = "test"\n', 'seed_salt = "test"\n'
                              + config(url, endpoint))
    return make_project({"manifests/a.toml": MANIFEST}, config=cfg, name=name)


def statuses(result) -> dict[str, str]:
    return {a.id: a.status for a in result.assets}


def test_fresh_clone_restores_what_another_machine_built(make_project, s3, url,
                                                         one_torch_thread):
    a = project(make_project, "a", url, s3)
    res = run_cli(a, "build")
    assert res.exit_code == 0, res.output
    stored = keys(s3, url)
    outputs = {n: (a / "assets" / "textures" / f"{n}.png").read_bytes() for n in ("grass", "rock")}
    for data in outputs.values():  # content-addressed, plus a ref per recipe
        hexd = bytes_hash(data).partition(":")[2]
        assert stored[f"sha256/{hexd[:2]}/{hexd}"] == data
    assert sum(k.startswith("refs/sha256/") for k in stored) == 2
    assert not any(k.startswith("tmp/") for k in stored)  # temp keys were published
    assert not (a / ".assetforge" / "objects").exists()  # nothing went to a local folder

    b = project(make_project, "b", url, s3)  # a fresh clone: no outputs, no records
    builder = Builder(load_project(b))
    result = builder.build()
    assert statuses(result) == {"grass": "restored", "rock": "restored"}
    assert builder.models.loads == 0  # zero generations
    builder.close()
    for name, data in outputs.items():
        assert (b / "assets" / "textures" / f"{name}.png").read_bytes() == data
    for root in (a, b):  # credentials never reach the records
        db = (root / ".assetforge" / "assetforge.db").read_bytes()
        assert SECRET.encode() not in db and b"testing" not in db


def test_endpoint_from_the_environment_and_cli_option(make_project, s3, url, monkeypatch,
                                                      one_torch_thread):
    a = make_project({"manifests/a.toml": MANIFEST}, name="a")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)  # the backend's standard variable
    res = run_cli(a, "--cache-dir", url, "build")
    assert res.exit_code == 0, res.output
    b = make_project({"manifests/a.toml": MANIFEST}, name="b")
    monkeypatch.setenv("ASSETFORGE_CACHE_DIR", url)
    res = run_cli(b, "build")
    assert res.exit_code == 0, res.output
    assert "0 built, 2 restored" in res.output


def test_lookup_of_many_recipes_is_one_request(s3, url, make_project):
    root = make_project({"manifests/a.toml": MANIFEST}, extra_config="")
    project_ = load_project(root)
    project_.cache_dir_override = url
    os.environ["AWS_ENDPOINT_URL"] = s3
    try:
        store = open_store(project_)
        recipes = [bytes_hash(f"recipe {i}".encode()) for i in range(100)]
        outputs = [store.put(f"output {i}".encode()) for i in range(90)]
        for recipe, digest in zip(recipes, outputs, strict=False):
            store.set_ref(recipe, digest)
        sent: list[str] = []
        store.fs.s3.meta.events.register(
            "before-send.s3", lambda request, **kw: sent.append(request.url))
        found = store.find_restorable(dict.fromkeys(recipes))
        assert found == dict(zip(recipes, outputs, strict=False))  # 90 of 100 have a ref
        assert len(sent) == 1  # one listing, not one request per job
        sent.clear()
        few = store.find_restorable({recipes[0]: None, recipes[95]: None})
        assert few == {recipes[0]: outputs[0]} and len(sent) == 2  # one concurrent batch
    finally:
        del os.environ["AWS_ENDPOINT_URL"]


def test_damaged_remote_object_is_never_served(make_project, s3, url, one_torch_thread):
    import boto3

    a = project(make_project, "a", url, s3)
    assert run_cli(a, "build").exit_code == 0
    grass = (a / "assets" / "textures" / "grass.png").read_bytes()
    hexd = bytes_hash(grass).partition(":")[2]
    key = f"{url.split('/', 3)[3]}/sha256/{hexd[:2]}/{hexd}"
    boto3.client("s3", endpoint_url=s3).put_object(Bucket=BUCKET, Key=key,
                                                   Body=grass[:-9] + b"bit rot!!")
    b = project(make_project, "b", url, s3)
    builder = Builder(load_project(b))
    result = builder.build()
    builder.close()
    assert statuses(result) == {"grass": "built", "rock": "restored"}  # regenerated
    assert (b / "assets" / "textures" / "grass.png").read_bytes() == grass
    assert keys(s3, url)[key[len(url.split("/", 3)[3]) + 1:]] == grass  # repaired


PUSHER = """
import sys
from assetforge.remote_cache import RemoteObjectStore
from assetforge.hashing import bytes_hash
store = RemoteObjectStore(sys.argv[1], {"endpoint_url": sys.argv[2]})
for i in range(30):
    digest = store.put(f"shared object {i}".encode() * 300)
    store.set_ref(bytes_hash(f"recipe {i}".encode()), digest)
    store.put(f"writer {sys.argv[3]} object {i}".encode() * 300)
"""


def test_concurrent_pushes_leave_only_complete_objects(s3, url):
    procs = [subprocess.Popen([sys.executable, "-c", PUSHER, url, s3, str(n)])
             for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    stored = keys(s3, url)
    objects = {k: v for k, v in stored.items() if k.startswith("sha256/")}
    assert len(objects) == 30 + 3 * 30
    for k, data in objects.items():  # every object complete: its bytes hash to its name
        assert bytes_hash(data) == "sha256:" + k.rsplit("/", 1)[1]
    refs = [k for k in stored if k.startswith("refs/")]
    assert len(refs) == 30  # the racers wrote the same refs
    assert not any(k.startswith("tmp/") for k in stored)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_remote_builds_anyway_and_says_so_once(make_project, s3, url,
                                                           one_torch_thread):
    root = project(make_project, "a", url, f"http://127.0.0.1:{_closed_port()}")
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["summary"]["built"] == 2
    assert res.stderr.count("is unreachable") == 1, res.stderr
    assert SECRET not in res.output
    res = run_cli(root, "gc")  # gc cannot work without the store: a clear error, no traceback
    assert res.exit_code == 2
    assert f"error: output cache {url} is unreachable" in res.output


def test_credentials_in_config_are_refused(make_project, url):
    root = make_project({"manifests/a.toml": MANIFEST}, extra_config="")
    text = (root / "assetforge.toml").read_text().replace(
        'seed_salt = "test"\n', f'seed_salt = "test"\ncache_dir = "{url}"\n'
        'cache_options = { endpoint_url = "http://x", secret = "hunter2" }\n')
    (root / "assetforge.toml").write_text(text)
    res = run_cli(root, "status")
    assert res.exit_code == 2
    assert "assetforge.toml:6: project.cache_options.secret: credentials come from the " \
           "environment" in res.output
    assert "hunter2" not in res.output


def test_gc_removes_unused_remote_objects(make_project, s3, url, one_torch_thread):
    root = project(make_project, "a", url, s3)
    assert run_cli(root, "build").exit_code == 0
    old = (root / "assets" / "textures" / "grass.png").read_bytes()
    manifest = root / "manifests" / "a.toml"
    manifest.write_text(manifest.read_text().replace('"grass"', '"dry grass"'))
    assert run_cli(root, "build").exit_code == 0
    assert sum(k.startswith("sha256/") for k in keys(s3, url)) == 3
    builder = Builder(load_project(root))
    # A week later with a one-day window: only objects of current recipes are kept.
    report = collect_garbage(builder, keep_days=1, now=time.time() + 7 * DAY)
    builder.close()
    assert [o.hash for o in report.removed] == [bytes_hash(old)]
    assert report.kept == 2 and report.refs_removed == 1
    stored = keys(s3, url)
    assert sum(k.startswith("sha256/") for k in stored) == 2
    assert sum(k.startswith("refs/") for k in stored) == 2
    assert bytes_hash(old).partition(":")[2] not in "".join(stored)


def test_file_url_is_the_local_folder_store(make_project, tmp_path):
    from assetforge.objects import ObjectStore

    root = make_project({"manifests/a.toml": MANIFEST})
    project_ = load_project(root)
    project_.cache_dir_override = f"file://{tmp_path / 'share'}"
    assert project_.cache_url is None and project_.cache_dir == tmp_path / "share"
    store = open_store(project_)
    assert type(store) is ObjectStore and store.root == tmp_path / "share"
    project_.cache_dir_override = "gs://bucket/prefix"
    assert project_.cache_url == "gs://bucket/prefix"
    project_.cache_dir_override = None
    assert project_.cache_url is None and project_.cache_dir == root / ".assetforge" / "objects"
