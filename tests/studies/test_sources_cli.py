"""``hrcam evaluate --sources``: the ablation through the CLI and the evaluation API."""

from __future__ import annotations

import csv

from hrcam import cli


def test_evaluate_sources_cli_writes_the_ablation(tiny_run, tmp_path, capsys):
    ckpt, store = tiny_run
    out = tmp_path / "eval"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "--limit", "3",
            "--methods", "low_res_cam", "--faithfulness-limit", "0", "--bootstrap", "50",
            "--sources", "all", "--oracle-noise", "0.2", "-o", str(out),
            "--no-progress"]  # fmt: skip
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "High-res-source ablation" in text and "oracle" in text
    for name in ("table.csv", "paired.csv", "per_image.csv", "summary.json", "report.md"):
        assert (out / "sources" / name).is_file(), name
    with (out / "sources" / "table.csv").open() as fh:
        methods = {row["method"] for row in csv.DictReader(fh)}
    for source in ("expansion", "image", "noise", "oracle"):
        assert {f"paper@{source}", f"reference@{source}", f"raw@{source}"} <= methods


def test_evaluate_sources_bad_input_is_a_clear_error(tiny_run, tmp_path, capsys):
    ckpt, store = tiny_run
    base = ["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "-o", str(tmp_path)]
    assert cli.main([*base, "--sources", "all", "noise"]) == 2
    assert "--sources all" in capsys.readouterr().err
    assert cli.main([*base, "--sources", "oracle", "--oracle-noise", "2"]) == 2
    assert "--oracle-noise" in capsys.readouterr().err
    try:
        cli.main([*base, "--sources", "gaussian"])
    except SystemExit as exc:  # argparse: invalid choice
        assert exc.code == 2
    assert "invalid choice" in capsys.readouterr().err
