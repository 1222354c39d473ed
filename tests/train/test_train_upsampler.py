"""Learned-JBU training: the multi-view objective, exact resume, the CLI."""

import pytest
import torch

from hrcam.train.callbacks import KillAfterStep
from hrcam.train.upsampler import (
    LearnedDownsampler,
    MultiViewOutput,
    jitter_thetas,
    multiview_loss,
    warp,
)


class _Interrupted(Exception):
    pass


def _interrupt():
    raise _Interrupted


def test_multiview_loss_is_zero_for_an_identity_upsampler_on_a_constant_image():
    # Constant image -> constant features; an identity upsampler (nearest) keeps them
    # constant; any jitter of a constant map (reflected borders) is the same constant; the
    # average-pooling downsampler returns it; the log-variance head starts at zero.
    features = torch.full((2, 4, 3, 3), 0.7)
    high = torch.nn.functional.interpolate(features, scale_factor=8, mode="nearest")
    thetas = jitter_thetas(2, torch.Generator().manual_seed(0))
    predicted = LearnedDownsampler(8)(warp(high, thetas))
    target = features  # the classifier's features of the (constant) jittered image
    out = MultiViewOutput(target, predicted, torch.zeros(2, 1, 3, 3), high)
    assert multiview_loss(out).item() == pytest.approx(0.0, abs=1e-6)
    # ... and not zero when the upsampled features disagree with the target.
    wrong = MultiViewOutput(target + 1.0, predicted, torch.zeros(2, 1, 3, 3), high)
    assert multiview_loss(wrong).item() == pytest.approx(1.0, abs=1e-5)


def test_jitter_is_a_flip_zoom_and_shift():
    thetas = jitter_thetas(64, torch.Generator().manual_seed(0))
    scale_x, scale_y = thetas[:, 0, 0], thetas[:, 1, 1]
    assert (scale_x < 0).any() and (scale_x > 0).any()  # some flipped
    torch.testing.assert_close(scale_x.abs(), scale_y)
    assert scale_y.min() < 1 < scale_y.max()  # zoom in and out


def _fit(store, classifier, run_dir, callbacks=()):
    from hrcam.train import train_upsampler

    return train_upsampler(
        data_root=store, run_dir=run_dir, classifier_checkpoint=classifier, epochs=2,
        batch_size=8, max_train_batches=2, max_val_batches=1, device="cpu", progress=False,
        optimizer="adam", lr=1e-2, callbacks=callbacks,
    )  # fmt: skip


def test_training_resumes_exactly(tiny_store, trained_classifier, tmp_path):
    from hrcam.models.jbu import load_upsampler

    straight = _fit(tiny_store, trained_classifier, tmp_path / "straight")
    with pytest.raises(_Interrupted):
        _fit(tiny_store, trained_classifier, tmp_path / "killed", [KillAfterStep(3, _interrupt)])
    resumed = _fit(tiny_store, trained_classifier, tmp_path / "killed")
    assert resumed.resumed_from == (1, 0)
    a = load_upsampler(tmp_path / "straight" / "last.pt")
    b = load_upsampler(tmp_path / "killed" / "last.pt")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    assert bool(a.trained)
    # The training moved the upsampler away from its initialisation.
    assert a.correction.weight.abs().max() > 0


def test_the_cli_has_the_upsampler_task(capsys):
    from hrcam.cli import main

    with pytest.raises(SystemExit):
        main(["train", "upsampler", "--help"])
    out = capsys.readouterr().out
    assert "--classifier" in out and "multi-view" in out


def test_an_upsampler_for_the_classifier_run_fits_the_expansion_trained_on_it(
    tiny_store, trained_classifier, tmp_path
):
    # Issue #33 item 3: the upsampler records its classifier's fingerprint. Expansion
    # training keeps the classifier frozen, so the expansion checkpoint holds the same
    # classifier and the upsampler is accepted for it (as chapter 11 of the book does).
    from hrcam.models import load_checkpoint
    from hrcam.models.fingerprint import classifier_fingerprint
    from hrcam.models.jbu import load_upsampler
    from hrcam.train import train_expansion

    expansion = train_expansion(
        data_root=tiny_store, run_dir=tmp_path / "exp", classifier_checkpoint=trained_classifier,
        epochs=1, batch_size=8, max_train_batches=2, max_val_batches=1, device="cpu",
        progress=False,
    )  # fmt: skip
    upsampler_run = _fit(tiny_store, trained_classifier, tmp_path / "ups")
    payload = torch.load(upsampler_run.best_checkpoint, weights_only=True)
    classifier = load_checkpoint(expansion.best_checkpoint).classifier
    assert payload["config"]["classifier_fingerprint"] == classifier_fingerprint(classifier)
    assert load_upsampler(upsampler_run.best_checkpoint, classifier).checkpoint == str(
        upsampler_run.best_checkpoint
    )


def test_resuming_after_the_classifier_changed_is_refused(tiny_store, trained_classifier, tmp_path):
    # The run's classifier file was replaced by another classifier between the two attempts:
    # resuming would continue an upsampler trained for the old one.
    import shutil

    from hrcam.models import build_classifier, load_checkpoint, save_checkpoint

    clf = tmp_path / "clf.pt"
    shutil.copy(trained_classifier, clf)
    with pytest.raises(_Interrupted):
        _fit(tiny_store, clf, tmp_path / "run", [KillAfterStep(3, _interrupt)])
    old = load_checkpoint(clf)
    torch.manual_seed(99)
    other = build_classifier(old.metadata["arch"], num_classes=old.metadata["num_classes"])
    save_checkpoint(clf, other, metadata={"image_size": old.metadata["image_size"]})
    with pytest.raises(ValueError, match="trained for another classifier"):
        _fit(tiny_store, clf, tmp_path / "run")
