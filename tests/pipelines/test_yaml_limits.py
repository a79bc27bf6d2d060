"""Hostile YAML: bounded, parsed once, every failure a config error with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainmyxray.core.errors import ConfigError
from explainmyxray.core.safe_yaml import MAX_FILE_BYTES, parse_yaml, read_yaml
from explainmyxray.pipelines.loader import PipelineError, load_pipeline, parse_pipeline
from explainmyxray.registry.plugins import PluginHost

REPO = Path(__file__).resolve().parents[2]
BILLION_LAUGHS = "name: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(allow=["image"])


def _problem(text: str | bytes, host: PluginHost) -> str:
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text, host, source="p.yaml")
    (problem,) = info.value.problems
    return str(problem)


def test_billion_laughs_is_refused_without_expanding(host):
    assert _problem(BILLION_LAUGHS, host).startswith("p.yaml:")
    assert "nodes once aliases are expanded" in _problem(BILLION_LAUGHS, host)


def test_a_recursive_anchor_is_refused_with_its_line(host):
    problem = _problem("name: x\nstages: &s\n  - *s\n", host)
    assert problem.startswith("p.yaml:3:") and "recursive alias" in problem


def test_non_utf8_names_the_line(host):
    problem = _problem(b"name: x\ndescription: caf\xe9\n", host)
    assert problem.startswith("p.yaml:2:") and "not UTF-8" in problem


def test_deep_nesting_and_many_aliases_are_refused(host):
    assert "nested deeper than" in _problem("name: " + "[" * 5000 + "]" * 5000 + "\n", host)
    many = "x: &x 1\nname: [" + ", ".join(["*x"] * 2000) + "]\n"
    assert "aliases" in _problem(many, host)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path, host):
    path = tmp_path / "huge.yaml"
    with path.open("w") as fh:
        fh.write("name: x\nstages:\n")
        fh.write("  - 1\n" * (MAX_FILE_BYTES // 6 + 10))
    with pytest.raises(PipelineError, match=r"huge\.yaml: not read: the YAML is .* larger than"):
        load_pipeline(path, host)


def test_validate_and_run_end_with_exit_2_on_a_billion_laughs_file(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    for command in (["validate", str(path)], ["run", str(path), str(path), "--out", "o"]):
        done = subprocess.run(
            [sys.executable, "-m", "explainmyxray", "--plugin", "image", *command],
            cwd=tmp_path,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "laughs.yaml:" in done.stderr and "Traceback" not in done.stderr


def test_the_line_map_comes_from_the_one_parse():
    document = parse_yaml("a: &x\n  b: 1\nc: *x\nd:\n  - e: 2\n", file="f")
    assert document.data == {"a": {"b": 1}, "c": {"b": 1}, "d": [{"e": 2}]}
    assert document.line_for(("d", 0, "e")) == 5
    assert document.line_for(("c",)) == 3


YAML_TEXT = st.text(
    alphabet=st.sampled_from([*"ab:-&*[]{}!|>'\"#%@`,?\n\t 01", "\\", "\u00e9", "\ufeff"]),
    max_size=200,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(YAML_TEXT, st.binary(max_size=200)))
def test_any_text_or_bytes_give_data_or_a_config_error(text):
    try:
        parse_yaml(text, file="prop.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("prop.yaml")


@settings(max_examples=150, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=12),
    fan=st.integers(min_value=1, max_value=12),
)
def test_alias_trees_are_bounded_by_their_expansion(depth, fan):
    lines = ["l0: &l0 [x]"]
    for i in range(1, depth + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    text = "\n".join(lines) + "\n"
    expanded = sum(fan**i for i in range(depth + 1))
    try:
        document = parse_yaml(text, file="tree.yaml")
    except ConfigError as exc:
        assert "aliases" in str(exc) or "nodes once aliases" in str(exc)
        assert expanded * 2 > 100_000 or depth * fan > 1000
    else:
        assert yaml.safe_dump(document.data)  # small enough to walk in full


def test_read_yaml_names_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere\.yaml: cannot read"):
        read_yaml(tmp_path / "nothere.yaml")
