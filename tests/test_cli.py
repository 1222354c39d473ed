"""The ``hrcam`` command line: entry point, help for every sub-command, user-facing errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hrcam import __version__
from hrcam.cli import build_parser, main
from hrcam.errors import CLIError


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_console_script_reports_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hrcam", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"hrcam {__version__}"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"hrcam {command}" in capsys.readouterr().out


def test_user_errors_are_printed_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: object) -> int:
        raise CLIError("the dataset folder 'x' does not exist; run `hrcam data synthetic` first")

    parser = build_parser()
    monkeypatch.setattr("hrcam.cli.build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrcam: error: the dataset folder 'x' does not exist")
    assert "Traceback" not in err


def test_postprocess_import_is_cheap_and_works() -> None:
    # The done-criterion, run as a user would.
    subprocess.run([sys.executable, "-c", "from hrcam.postprocess import refine"], check=True)


def test_help_imports_no_torch() -> None:
    # Every `hrcam ... --help` builds this parser; torch would cost ~2 s and 600 MB.
    code = (
        "import sys; from hrcam.cli import build_parser; build_parser(); "
        "import hrcam.train.config, hrcam.explain; "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]; "
        "assert 'scipy' not in sys.modules  # lazy hrcam.data / hrcam.metrics"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
