"""README.md is a user guide that stays true: every ```python block in it runs.

Each block runs in a fresh namespace, with the repository root as the working directory, in the
order of the README; a block must not rely on names from an earlier one. A block that needs data
that is not in the repository starts with the marker comment

    # readme-test: needs ../shared/data/MNIST/raw

naming one or more paths (relative to the repository root, separated by spaces). Such a block is
skipped, with a reason, when any of those paths is missing, and runs otherwise. There is no other
way to skip a block: prefer blocks that run anywhere (the shipped weights, synthetic tensors).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARKER = "# readme-test: needs "
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def python_blocks() -> list[tuple[int, str]]:
    """(line number of the block's first code line, code) for every ```python block."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks()


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


def missing_data(code: str) -> list[str]:
    """The paths a block's marker comment names that do not exist (none without a marker)."""
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    if not first.startswith(MARKER):
        return []
    return [p for p in first[len(MARKER) :].split() if not (REPO / p).exists()]


def test_the_marker_names_the_missing_paths():
    assert missing_data("import torch\n") == []
    assert missing_data("# readme-test: needs README.md no/such/folder\nprint(1)\n") == ["no/such/folder"]
    assert missing_data("# needs no/such/folder\n") == []  # only the exact marker counts


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_python_block_runs(line, code, monkeypatch):
    missing = missing_data(code)
    if missing:
        pytest.skip(f"README.md:{line} needs {', '.join(missing)}")
    monkeypatch.chdir(REPO)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


def test_readme_keeps_the_ci_test_command_and_its_links():
    text = README.read_text()
    bash = "\n".join(re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL))
    assert re.search(r"^python -m pytest -q(\s|$)", bash, re.MULTILINE), "CI runs the README's test command"
    broken = [t for t in LINK.findall(text) if "://" not in t and not (REPO / t).exists()]
    assert not broken, f"README.md links to missing files: {broken}"


def test_readme_is_a_short_guide():
    size = README.stat().st_size
    assert size < 12_000, f"README.md is {size} bytes; the experiment history belongs in bench/README.md"


def test_every_public_name_resolves():
    import envs
    import glimpse

    for package in (glimpse, envs):
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert not missing, f"{package.__name__}.__all__ names what it lacks: {missing}"
        assert len(set(package.__all__)) == len(package.__all__)
