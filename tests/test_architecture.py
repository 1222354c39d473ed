"""The package's shape, read from its source: no import cycle, between modules or between
packages (folders); no module over 600 lines; no upward import (the methods, evaluation and
training never import the studies; the method registry imports no method); and no top-level
module outside a short list.

The import graph is built with :mod:`ast`, so it counts every import a module can run,
function-level ones included, and the lazy ones (``lazy_loader.attach``,
``importlib.import_module``); imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hrcam"
MAX_MODULE_LINES = 600


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of ``package`` (packages by their name)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) bodies."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _lazy_targets(node: ast.Call, package: str, strings: set[str]) -> set[str]:
    """Modules a lazy-import call names: ``lazy_loader.attach(__name__, submodules=...,
    submod_attrs=...)``, or ``importlib.import_module`` of a string (an f-string ``"pkg.{x}"``
    counts ``pkg.<s>`` for every string constant ``s`` of the module)."""
    func = ast.unparse(node.func)
    if func.endswith("attach"):
        names: list[ast.expr] = []
        for kw in node.keywords:
            if kw.arg == "submodules" and isinstance(kw.value, ast.List | ast.Tuple):
                names += kw.value.elts
            elif kw.arg == "submod_attrs" and isinstance(kw.value, ast.Dict):
                names += [k for k in kw.value.keys if k is not None]
        return {f"{package}.{n.value}" for n in names if isinstance(n, ast.Constant)}
    if func.endswith("import_module") and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return {arg.value}
        if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
            prefix = arg.values[0].value
            return {f"{prefix}{s}" for s in strings}
    return set()


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """Modules of ``modules`` that module ``name`` (at ``path``) imports, anywhere but under
    ``TYPE_CHECKING``. ``from a import b`` counts ``a.b`` when that is a module, else ``a``;
    relative imports are resolved against the module's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Call):
            targets |= _lazy_targets(node, package, strings)
        elif isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over ``package``'s own modules."""
    files = module_files(package)
    names = set(files)
    return {name: imported_modules(name, path, names) for name, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def reaches(graph: dict[str, set[str]], start: str, prefix: str) -> list[str]:
    """A chain of imports from ``start`` to a module named ``prefix`` or under it ([] if none)."""
    parents: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        if v == prefix or v.startswith(prefix + "."):
            chain = [v]
            while parents[chain[-1]] is not None:
                chain.append(parents[chain[-1]])
            return chain[::-1]
        for w in sorted(graph.get(v, ())):
            if w not in parents:
                parents[w] = v
                queue.append(w)
    return []


# -- the checker itself ------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_graph_counts_function_level_and_relative_imports(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg import b\n",
            "pkg/b.py": "from .sub import c\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from ..a import f\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_graph_counts_lazy_imports(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "import lazy_loader\n"
            "__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=['a'],"
            " submod_attrs={'b': ['f']})\n",
            "pkg/a.py": "import importlib\n_LAZY = {'g': 'c'}\n"
            "def __getattr__(name):\n    return importlib.import_module(f'pkg.{_LAZY[name]}')\n",
            "pkg/b.py": "import importlib\nimportlib.import_module('pkg')\n",
            "pkg/c.py": "",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.a", "pkg.b"}
    assert graph["pkg.a"] == {"pkg.c"}
    assert find_cycles(graph) == [["pkg", "pkg.b"]]


def test_graph_leaves_out_type_checking_imports(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b\n",
            "pkg/b.py": "import pkg.a\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == set()
    assert find_cycles(graph) == []
    assert reaches(graph, "pkg.b", "pkg.a") == ["pkg.b", "pkg.a"]
    assert reaches(graph, "pkg.a", "pkg.b") == []


# -- hrcam's shape -----------------------------------------------------------------------------


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles among hrcam's modules: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_module_over_600_lines():
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in module_files().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


@pytest.mark.parametrize("lower", ["hrcam.evaluate", "hrcam.train", "hrcam.methods"])
def test_lower_layers_never_import_studies(lower):
    graph = import_graph()
    for module in [m for m in graph if m == lower or m.startswith(lower + ".")]:
        chain = reaches(graph, module, "hrcam.studies")
        assert not chain, f"{module} imports the studies: " + " -> ".join(chain)


def test_method_registry_imports_no_method():
    graph = import_graph()
    seen, queue = set(), ["hrcam.methods.registry"]
    while queue:
        for w in graph[queue.pop()] - seen:
            seen.add(w)
            queue.append(w)
    assert not {m for m in seen if m.startswith("hrcam.methods")}


# Top-level modules of hrcam: the entry points and a few generic utilities that every
# package may use. Anything else lives in the package of what it does (hrcam.book, hrcam.core,
# hrcam.data, ...), so that a newcomer finds each topic in its folder.
TOP_LEVEL_MODULES = {
    "hrcam.__main__",
    "hrcam._version",
    "hrcam.atomic",
    "hrcam.cli",
    "hrcam.errors",
    "hrcam.extras",
    "hrcam.locking",
    "hrcam.offline",
    "hrcam.parallel",
}


def folder_of(module: str) -> str:
    """The package right under the root that holds ``module`` (a top-level module: itself)."""
    return ".".join(module.split(".")[:2])


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``{folder: folders it imports}``: the module graph with each module in its folder.

    The root package itself (``hrcam/__init__.py``, lazy attributes for every package) is left
    out: it is the door, not a floor.
    """
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if "." not in module:
            continue
        here = folder_of(module)
        out.setdefault(here, set()).update(
            folder_of(t) for t in targets if "." in t and folder_of(t) != here
        )
    return out


def test_folder_graph_sees_a_cycle_through_two_packages(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import x\n",
            "pkg/a/__init__.py": "",
            "pkg/a/x.py": "def f():\n    from pkg.b import y\n",
            "pkg/a/z.py": "",
            "pkg/b/__init__.py": "",
            "pkg/b/y.py": "from pkg.a import z\n",
            "pkg/c.py": "import pkg.b.y\n",
        },
    )
    graph = import_graph(pkg)
    assert find_cycles(graph) == []  # no cycle of modules...
    folders = folder_graph(graph)
    assert folders["pkg.c"] == {"pkg.b"} and "pkg" not in folders
    assert find_cycles(folders) == [["pkg.a", "pkg.b"]]  # ...but one of folders


def test_no_folder_level_import_cycles():
    """No two packages (or top-level modules) of hrcam import each other, even through others."""
    cycles = find_cycles(folder_graph(import_graph()))
    assert not cycles, "import cycles among hrcam's packages: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_top_level_module_outside_the_short_list():
    top = {m for m, path in module_files().items() if path.parent == PACKAGE and "." in m}
    extra = sorted(top - TOP_LEVEL_MODULES)
    assert not extra, (
        f"top-level modules {extra}: put each in the package of what it does (hrcam.book, "
        "hrcam.core, ...), or add it to TOP_LEVEL_MODULES with the reason"
    )


# What every package's __init__ reads its modules' __all__ with (without importing them).
EXPORTS = "hrcam.core.exports"

# Packages whose import must run some of their modules: the method families register
# themselves in the registry when hrcam.methods is imported.
EAGER_SUBMODULES = {
    "hrcam.methods": {"bilateral", "gradcam", "hires", "paper", "upsamplers", "registry"}
}


def _packages() -> list[Path]:
    return sorted(PACKAGE.rglob("__init__.py"))


def _package_name(init: Path) -> str:
    """``hrcam/postprocess/steps/__init__.py`` -> ``hrcam.postprocess.steps``."""
    return ".".join(init.parent.relative_to(PACKAGE.parent).parts)


@pytest.mark.parametrize(
    "init", _packages(), ids=lambda p: str(p.parent.relative_to(PACKAGE.parent))
)
def test_every_package_exports_one_way(init):
    """Every ``__init__.py`` names its public API through ``lazy_loader.attach`` (its
    ``__all__`` and ``__dir__`` come from it), and runs no module of its own package except
    the ones listed in :data:`EAGER_SUBMODULES`."""
    tree = ast.parse(init.read_text())
    package = _package_name(init)
    attached = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "lazy_loader.attach"
    ]
    assert len(attached) == 1, f"{package}: export the public names with one lazy_loader.attach"
    targets = [ast.unparse(t) for t in attached[0].targets[0].elts]
    assert targets[1:] == ["__dir__", "__all__"], f"{package}: __dir__, __all__ = attach(...)"
    eager = set()
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module == EXPORTS:
            continue
        if node.module and node.module.startswith(package):
            rest = node.module[len(package) :].lstrip(".")
            eager |= {rest.split(".")[0]} if rest else {a.name for a in node.names}
    assert eager <= EAGER_SUBMODULES.get(package, set()), (
        f"{package}/__init__.py imports {sorted(eager)} when imported: list the names in "
        "lazy_loader.attach instead"
    )


def test_importing_a_package_runs_none_of_its_modules():
    """The behaviour the one export style is for: ``import hrcam.models`` costs nothing."""
    import subprocess
    import sys

    packages = [n for n in map(_package_name, _packages()) if n not in EAGER_SUBMODULES]
    code = (
        "import importlib, sys\n"
        f"for name in {packages!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hrcam.') and m not in "
        f"{packages!r} and m != {EXPORTS!r})\n"
        "print(loaded)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, torch_loaded = out.stdout.splitlines()
    assert loaded == "[]" and torch_loaded == "False", out.stdout
