"""The companion book's machinery: chapters, profiles, the runner and what it writes.

``chapters``
    One record per chapter (:class:`Chapter`: notebook, run-folder stage, role, whether it is
    optional and what it needs); every per-chapter table is derived from :data:`CHAPTERS`.
``profiles``
    The named parameter profiles (``smoke``, ``demo``, ``study``, ``paper``),
    :func:`notebook_config` (a notebook's second cell) and :func:`stage_dir`.
``runner``
    :func:`run_book` (``hrcam book``): every notebook through papermill, then the build.
``sources``
    The optional chapters' Debian packages, checked before a run, and the page of a chapter
    skipped on request.
``pages``
    The parts of the intro that the runner writes, and this run's timings.
``config_view``
    How a notebook's parameters and saved values show on its page.
``runs``
    :func:`load_run`: what the notebooks' earlier stages left in a run folder.

The package exports what the notebooks and scripts call (a notebook's configuration, its stage
folder, the run's model, the runner); everything else is imported from its module.

A new chapter is its notebook pair (``notebooks/NN_name.py`` and ``.ipynb``) and one
:class:`Chapter` record; ``_toc.yml`` lists the notebooks in the records' order (a test checks
it). Attributes load on first use, so ``import hrcam.book`` stays cheap.
"""

import lazy_loader

from hrcam.core.exports import public_names

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["chapters", "config_view", "pages", "profiles", "runner", "runs", "sources"],
    submod_attrs=public_names(__file__, ["chapters", "config_view", "profiles", "runner", "runs"]),
)
