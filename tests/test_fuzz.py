"""Property-based fuzzing of manifests and assetforge.toml (issue 11): whatever the bytes,
`assetforge build --json` exits 0, 1 or 2, prints no traceback and only JSON on stdout,
locates every exit-2 error at a file and line, writes nothing outside the project, and leaves
the database bytes as they were when it rejects the input.

Bounded (see ``settings``) so the suite stays fast; bench/fuzz.py runs thousands of cases.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fuzzcases import KINDS, LONG_FILL, LONG_SHAPES, TARGETS, long_line, make_base, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from assetforge.cli import cli

    proj = make_base(tmp_path_factory.mktemp("fuzzbase"))
    res = CliRunner().invoke(cli, ["--project", str(proj), "build", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"]["built"] == 4
    return proj


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), target=st.sampled_from(TARGETS),
       seed=st.integers(0, 2**32 - 1))
def test_mutated_project_never_tracebacks(base, tmp_path_factory, kind, target, seed):
    work = tmp_path_factory.getbasetemp() / "fuzzcase"
    outcome = run_case(base, work, kind, target, seed)
    assert outcome.problems == [], (kind, target, seed, outcome.stderr[-1500:])


@pytest.mark.parametrize("kind", KINDS)
def test_every_mutation_kind_is_exercised(base, tmp_path, kind):
    """Each kind once per target with a fixed seed: none is left to chance."""
    for target in TARGETS:
        outcome = run_case(base, tmp_path / "case", kind, target, 1)
        assert outcome.problems == [], (kind, target, outcome.stderr[-1500:])


@pytest.mark.parametrize("shape", LONG_SHAPES)
def test_megabyte_lines(base, tmp_path, shape):
    """Every shape of a megabyte line (a key, table header, string or comment of spaces,
    quotes, dots or brackets) in both files, with fills taken in turn: accepted or refused
    with file and line like any input (bench/fuzz.py times every shape with every fill)."""
    i = LONG_SHAPES.index(shape)
    for j, target in enumerate(TARGETS):
        fill = LONG_FILL[(2 * i + j) % len(LONG_FILL)]
        outcome = run_case(base, tmp_path / "case", "long_line", target, i,
                           line=long_line(shape, fill))
        assert outcome.problems == [], (shape, fill, target, outcome.stderr[-1500:])
