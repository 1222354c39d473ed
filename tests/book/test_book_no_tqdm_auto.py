"""Notebook kernels without ipywidgets: tqdm.auto warns on import ("IProgress not found") and
the warning lands on the book's pages, so the package uses plain ``tqdm.tqdm`` only."""

from __future__ import annotations

import ast
from pathlib import Path

import hrcam


def test_package_never_imports_tqdm_auto():
    offenders = []
    for path in Path(hrcam.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad = [
                n
                for n in names
                if n.split(".")[:2]
                in (["tqdm", "auto"], ["tqdm", "autonotebook"], ["tqdm", "notebook"])
            ]
            offenders += [f"{path.name}:{node.lineno} {n}" for n in bad]
    assert offenders == []
