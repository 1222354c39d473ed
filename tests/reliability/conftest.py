"""Fixtures of the hostile-input tests: a tiny untrained HRCAM checkpoint at 32 px."""

from __future__ import annotations

import pytest

SIZE = 32


@pytest.fixture(scope="session")
def ck(tmp_path_factory):
    """An expansion checkpoint (densenet_compact, 3 classes, 32 px), untrained."""
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    return save_checkpoint(
        path, model, metadata={"image_size": SIZE, "class_names": ["a", "b", "c"]}
    )


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*argv) -> (status, stdout, stderr)`` through :func:`hrcam.cli.main`."""
    from hrcam.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        status = main([str(a) for a in argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run
