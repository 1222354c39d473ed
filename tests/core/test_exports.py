"""Packages export what their modules' ``__all__`` say, read from source without importing."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import hrcam
from hrcam.core.exports import module_names, public_names

PACKAGES = sorted(
    ".".join(p.parent.relative_to(Path(hrcam.__file__).parents[1]).parts)
    for p in Path(hrcam.__file__).parent.rglob("__init__.py")
)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_the_modules_own(package):
    """What the source says is what the imported module has, and the package hands it out."""
    pkg = importlib.import_module(package)
    owners = {}
    for path in Path(pkg.__file__).parent.glob("*.py"):
        if path.name == "__init__.py" or f"{package}.{path.stem}" == "hrcam.__main__":
            continue
        module = importlib.import_module(f"{package}.{path.stem}")
        if hasattr(module, "__all__"):
            assert module_names(path) == list(module.__all__), path
            owners.update(dict.fromkeys(module.__all__, module))
    for name in pkg.__all__:
        if name in owners:  # else a submodule (or a derived name) the package names itself
            assert getattr(pkg, name) is getattr(owners[name], name), f"{package}.{name}"
        else:
            assert importlib.import_module(f"{package}.{name}") is getattr(pkg, name)


def test_a_module_without_a_literal_list_is_refused(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("NAMES = ['x']\n__all__ = [*NAMES]\n")
    (tmp_path / "b.py").write_text("def f():\n    pass\n")
    for module in ("a", "b"):
        with pytest.raises(ImportError, match="literal list of names"):
            public_names(tmp_path / "__init__.py", [module])


def test_two_modules_exporting_one_name_are_refused(tmp_path):
    (tmp_path / "a.py").write_text('__all__ = ["shared", "x"]\n')
    (tmp_path / "b.py").write_text('__all__ = (\n    "shared",\n)\n')
    assert module_names(tmp_path / "b.py") == ["shared"]
    with pytest.raises(ImportError, match="'shared' is exported by both 'a' and 'b'"):
        public_names(tmp_path / "__init__.py", ["a", "b"])
