"""Defaults said once: every ``hrcam train`` option starts from its TrainConfig field's default,
the augmentation defaults live in one AugmentConfig, and ``hrcam explain --preset`` offers the
preset table's names; every ``hrcam data`` option starts from its dataset builder's
default."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from hrcam.cli import build_parser
from hrcam.data.augment import AugmentConfig
from hrcam.train.config import TrainConfig, default_run_dir, option_name

TASKS = ("classifier", "expansion")


def _subparser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _field_actions(task: str) -> dict[str, argparse.Action]:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return {a.dest: a for a in _subparser("train", task)._actions if a.dest in fields}


@pytest.mark.parametrize("task", TASKS)
def test_every_train_option_defaults_to_its_config_field(task):
    defaults = TrainConfig.defaults()
    actions = _field_actions(task)
    assert len(actions) > 25
    for field, action in actions.items():
        if action.required:
            continue
        expected = default_run_dir(task) if field == "run_dir" else defaults[field]
        assert action.default == expected, field


def test_every_config_field_has_a_train_option():
    covered = set(_field_actions("classifier")) | set(_field_actions("expansion"))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert covered == fields - {"task"}


@pytest.mark.parametrize("task", TASKS)
def test_option_names_are_the_ones_a_refused_resume_names(task):
    for field, action in _field_actions(task).items():
        flags = set(action.option_strings)
        if field == "pretrained" and task == "expansion":
            assert flags == {"--weights"}
        elif action.option_strings[0].startswith("--no-"):
            assert flags == {"--no-" + option_name(field)[2:]}
        else:
            assert option_name(field) in flags, field


@pytest.mark.parametrize("task", TASKS)
def test_a_bare_command_line_gives_the_default_config(task):
    from hrcam.commands.train import config_from_args

    argv = ["train", task, "--data", "d"]
    if task == "expansion":
        argv += ["--classifier", "c.pt"]
    config = config_from_args(build_parser().parse_args(argv))
    expected = TrainConfig(
        task=task,
        data_root="d",
        run_dir=default_run_dir(task),
        classifier_checkpoint="c.pt" if task == "expansion" else None,
    )
    assert config == expected


def test_choices_come_from_the_config_and_the_preset_table():
    from hrcam.postprocess.config import PRESETS
    from hrcam.train.config import OPTIMIZERS, SCHEDULERS

    actions = _field_actions("classifier")
    assert tuple(actions["optimizer"].choices) == OPTIMIZERS
    assert tuple(actions["scheduler"].choices) == SCHEDULERS
    preset = next(a for a in _subparser("explain")._actions if a.dest == "preset")
    assert tuple(preset.choices) == tuple(PRESETS)
    assert preset.default in PRESETS
    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["explain", "x.png", "--checkpoint", "c", "-o", "o", "--preset", "nope"]
        )


@pytest.mark.parametrize("dataset", ["synthetic", "imagenet", "pets", "imagenette"])
def test_every_data_option_defaults_to_its_builder_parameter(dataset):
    import inspect

    from hrcam.data.registry import DATASETS

    parameters = inspect.signature(DATASETS[dataset].load()).parameters
    actions = {a.dest: a for a in _subparser("data", dataset)._actions if a.dest in parameters}
    # Every builder option is on the command line, except the paths (--root/--out), the
    # progress bar (on unless --no-progress) and the decoder's pixel cap.
    assert set(parameters) - set(actions) <= {"out", "out_dir", "root", "progress", "max_pixels"}
    for name, action in actions.items():
        if action.required:
            continue
        default = action.default
        if isinstance(default, list):  # nargs="+" (--splits): argparse gives lists
            default = tuple(default)
        assert default == parameters[name].default, name


def test_augmentation_defaults_live_in_one_config():
    from hrcam.book import PROFILES

    assert TrainConfig().augment_p == AugmentConfig().p
    assert all(p["augment"] == TrainConfig().augment for p in PROFILES.values())


def test_augment_config_validates_and_names_unknown_settings():
    torch = pytest.importorskip("torch")
    from hrcam.data.augment import augment_batch, sample_augmentation_params

    with pytest.raises(ValueError, match="p must be"):
        AugmentConfig(p=1.5)
    assert AugmentConfig(scale=[0.8, 1.2]).scale == (0.8, 1.2)  # hashable, frozen
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"unknown augmentation setting.*rotate"):
        augment_batch(images, rotate=10)
    # A config and the same fields as keyword overrides draw the same parameters.
    by_config = sample_augmentation_params(
        4, 8, 8, torch.Generator().manual_seed(3), AugmentConfig(p=1.0, shear=2.0)
    )
    by_fields = sample_augmentation_params(
        4, 8, 8, torch.Generator().manual_seed(3), p=1.0, shear=2.0
    )
    assert all(torch.equal(by_config[k], by_fields[k]) for k in by_config)
