"""The layering docs/architecture.md states: nothing imports upward."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: folder -> the slimcls packages its modules may import (besides their own).
ALLOWED = {
    "slimcls/core": ("slimcls.core",),
    "slimcls/config": ("slimcls.config", "slimcls.core"),
    "nets": ("slimcls.nets", "slimcls.core"),
    # the net table (plain data) names each net's preprocessing and TF-Slim's aliases
    "preprocessing": ("slimcls.preprocessing", "slimcls.core", "slimcls.nets.net_table"),
    "datasets": ("slimcls.datasets", "slimcls.core", "slimcls.config"),
}
#: TF-Slim's import names, which these folders also answer to.
TFSLIM_NAMES = ("nets", "preprocessing", "datasets")


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_nothing_imports_upward(folder):
    allowed = ALLOWED[folder]
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in TFSLIM_NAMES:
                name = f"slimcls.{name}"
            if name == "slimcls" or not name.startswith("slimcls."):
                continue
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)
