"""The README and docs/ stay true: their links resolve and every flag they show exists.

Flags are read from each command's own ``--help`` (no TensorFlow), so a renamed or removed flag
fails here instead of in a user's shell.
"""

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slimcls import __main__ as slimcls_main

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = tuple(c for c in slimcls_main.COMMANDS if c != "checkpoints")  # it has no flags
ABSL = {"help", "helpfull", "helpshort", "version", "flagfile"}


@functools.cache
def command_flags(command: str) -> frozenset:
    out = subprocess.run(
        [sys.executable, "-m", "slimcls", command, "--helpfull"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return frozenset(re.findall(r"--(?:\[no\])?([a-z][a-z0-9_]*)", out.stdout))


def shown_commands(text: str):
    """(command, [flag names]) for each command line in the text's code blocks."""
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            words = line.split()
            for i, word in enumerate(words):
                name = word.rsplit("/", 1)[-1]
                if name in COMMANDS:
                    rest = []
                    for w in words[i + 1 :]:
                        if w in ("|", "&&", ";", "#") or w.split("/")[-1] in COMMANDS:
                            break
                        rest.append(w)
                    flag = r"--(?:no)?([a-z][a-z0-9_]*)"
                    flags = [m.group(1) for w in rest if (m := re.match(flag, w))]
                    yield name, flags
                    break


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: link to missing {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_shown_exists(doc):
    text = doc.read_text(encoding="utf-8")
    missing = []
    for command, flags in shown_commands(text):
        known = command_flags(command) | ABSL
        missing += [f"{command} --{f}" for f in flags if f not in known and f"no{f}" not in known]
    assert not missing, f"{doc.name} shows flags the commands do not have: {missing}"


def test_the_checker_sees_flags():
    """The parser above finds commands and flags (a checker that finds none checks nothing)."""
    text = "```bash\ntrain_image_classifier --train_dir=/t \\\n  --model_name=x | tee log\n```"
    assert list(shown_commands(text)) == [("train_image_classifier", ["train_dir", "model_name"])]
    assert "train_dir" in command_flags("train_image_classifier")
