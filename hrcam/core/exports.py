"""A package's public names, read from its modules' ``__all__`` without importing them.

Every package of hrcam exports its API lazily (scikit-image's ``lazy_loader``): a name is
imported from its module on first use. The names themselves are written once, in the
module's ``__all__``; :func:`public_names` reads those lists from the source, so that the
package's ``__init__`` names only the modules it exports and importing it stays cheap.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["module_names", "public_names"]

# A module-level ``__all__ = [...]`` (or a tuple) of string literals; the lists hold no
# brackets, so the first closing one ends it.
_ALL = re.compile(r"^__all__\s*=\s*(\[[^\]]*\]|\([^)]*\))", re.MULTILINE)


def module_names(path: str | os.PathLike) -> list[str]:
    """Return the ``__all__`` of the module at ``path``, read from its source.

    Raises
    ------
    ImportError
        The module has no ``__all__`` written as a literal list of strings.
    """
    path = Path(path)
    match = _ALL.search(path.read_text(encoding="utf-8"))
    names = None
    if match is not None:
        try:
            names = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            names = None
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ImportError(
            f"{path} has no __all__ written as a literal list of names: its package exports "
            "what that list says, so write one"
        )
    return list(names)


def public_names(init_file: str | os.PathLike, modules: Iterable[str]) -> dict[str, list[str]]:
    """Map each of ``modules`` (beside ``init_file``) to its ``__all__``, for ``lazy_loader``.

    Parameters
    ----------
    init_file
        The package's ``__init__.py`` (pass ``__file__``).
    modules
        Module names in that folder (``"masks"`` for ``masks.py``).

    Returns
    -------
    dict
        ``{module: [name, ...]}``, the ``submod_attrs`` of :func:`lazy_loader.attach`.

    Raises
    ------
    ImportError
        A module lacks a literal ``__all__``, or two modules export the same name.
    """
    folder = Path(init_file).parent
    out = {module: module_names(folder / f"{module}.py") for module in modules}
    seen: dict[str, str] = {}
    for module, names in out.items():
        for name in names:
            if seen.setdefault(name, module) != module:
                raise ImportError(
                    f"{folder.name}: {name!r} is exported by both {seen[name]!r} and "
                    f"{module!r}; rename one or leave it out of one __all__"
                )
    return out
