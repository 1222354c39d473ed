"""Sub-commands of the ``hrcam`` command line.

Each command module here defines ``register(subparsers)``, which adds one sub-command (with its
own sub-sub-commands, if any) and sets ``func`` on the parsed namespace. Heavy imports (torch)
happen inside the command functions so that ``hrcam --help`` is fast.
"""

import lazy_loader

from hrcam.core.exports import public_names

#: The modules that each add one sub-command, in ``hrcam --help``'s order.
COMMAND_MODULES: tuple[str, ...] = ("data", "train", "explain", "evaluate", "book")

# Names load from their submodule on first use (scikit-image's lazy_loader): building one
# parser imports only that command's module.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[*COMMAND_MODULES, "options"],
    submod_attrs=public_names(__file__, ["options"]),
)
