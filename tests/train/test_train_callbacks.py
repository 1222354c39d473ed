"""Callbacks of the training loop: they see every step and epoch end, and the kill switch
(one of them) interrupts a run at a chosen step, after which the run resumes bit-exactly."""

from __future__ import annotations

import pytest
import torch

from hrcam.train import Callback, KillAfterStep
from hrcam.train.callbacks import KILL_ENV, callbacks_from_env


class _Interrupted(Exception):
    """Raised by the in-process kill switch, in place of SIGKILL."""


def _interrupt() -> None:
    raise _Interrupted


#: On top of ``standin.config``'s: the scheduler's state changes within the run, and must resume.
_RUN = dict(epochs=2, checkpoint_every=4, plateau_patience=0)


class _Recorder(Callback):
    def __init__(self) -> None:
        self.steps: list[tuple[int, int, int]] = []
        self.epochs: list[int] = []

    def on_step_end(self, loop) -> None:
        state = loop.state
        self.steps.append((state.epoch, state.batch, state.global_step))

    def on_epoch_end(self, loop, row) -> None:
        assert loop.state.history[-1] is row
        self.epochs.append(row["epoch"])


def _fit(standin, config, callbacks=()):
    torch.manual_seed(config.seed)
    model = standin.TinyNet()
    result = standin.fit(
        standin.StandInTask(model),
        standin.make_data(96, 1),
        standin.make_data(32, 2),
        config,
        callbacks=callbacks,
    )
    return result, model


def test_callbacks_see_every_step_and_epoch_end(standin, tmp_path):
    recorder = _Recorder()
    _fit(standin, standin.config(tmp_path / "run", **_RUN), callbacks=[recorder])
    # 96 images / batch 8: 12 steps per epoch.
    expected = [(e, b, e * 12 + b) for e in range(2) for b in range(1, 13)]
    assert recorder.steps == expected
    assert recorder.epochs == [1, 2]


def test_kill_switch_interrupts_at_its_step_and_the_run_resumes_exactly(standin, tmp_path):
    straight, straight_model = _fit(standin, standin.config(tmp_path / "straight", **_RUN))

    recorder = _Recorder()
    kill = KillAfterStep(15, action=_interrupt)  # epoch 2, batch 3; last.pt is from step 12
    with pytest.raises(_Interrupted):
        _fit(standin, standin.config(tmp_path / "killed", **_RUN), callbacks=[recorder, kill])
    assert recorder.steps[-1] == (1, 3, 15)  # nothing ran after the interrupting step
    state = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["extra"]
    assert (state["epoch"], state["batch"], state["global_step"]) == (1, 0, 12)

    resumed, resumed_model = _fit(standin, standin.config(tmp_path / "killed", **_RUN))
    assert resumed.resumed_from == (1, 0)
    for key, value in straight_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    for row_a, row_b in zip(straight.history, resumed.history, strict=True):
        for key in ("train_loss", "val_loss", "val_top1", "lr", "global_step"):
            assert row_a[key] == row_b[key], key


def test_kill_switch_mid_epoch_checkpoint_resumes_exactly(standin, tmp_path):
    # Killed after step 19 with the last checkpoint at step 16 (epoch 2, batch 4): the resume
    # starts in the middle of an epoch and replays three steps.
    straight, straight_model = _fit(standin, standin.config(tmp_path / "straight", **_RUN))
    with pytest.raises(_Interrupted):
        _fit(
            standin,
            standin.config(tmp_path / "killed", **_RUN),
            callbacks=[KillAfterStep(19, action=_interrupt)],
        )
    resumed, resumed_model = _fit(standin, standin.config(tmp_path / "killed", **_RUN))
    assert resumed.resumed_from == (1, 4)
    for key, value in straight_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]


def test_the_environment_installs_the_kill_switch():
    assert callbacks_from_env({}) == []
    assert callbacks_from_env({KILL_ENV: ""}) == []
    (kill,) = callbacks_from_env({KILL_ENV: "7"})
    assert isinstance(kill, KillAfterStep) and kill.step == 7
    with pytest.raises(ValueError, match=KILL_ENV):
        callbacks_from_env({KILL_ENV: "seven"})
    with pytest.raises(ValueError, match="positive integer"):
        KillAfterStep(0)
