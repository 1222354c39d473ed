"""Learned-JBU training: the multi-view objective, exact resume, the CLI."""

import pytest
import torch

from hrcam.train.callbacks import KillAfterStep
from hrcam.train.upsampler import (
    LearnedDownsampler,
    MultiViewOutput,
    jitter_thetas,
    multiview_loss,
    sampled_crf_loss,
    warp,
)


class _Interrupted(Exception):
    pass


def _interrupt():
    raise _Interrupted


def test_multiview_loss_is_zero_error_for_an_identity_upsampler_on_a_constant_image():
    # Constant image -> constant features; an identity upsampler (nearest) keeps them
    # constant; any jitter of a constant map (reflected borders) is the same constant; the
    # average-pooling downsampler returns it. What remains is FeatUp's uncertainty term:
    # mean(log s) with s = 1 here.
    features = torch.full((2, 4, 3, 3), 0.7)
    high = torch.nn.functional.interpolate(features, scale_factor=8, mode="nearest")
    thetas = jitter_thetas(2, torch.Generator().manual_seed(0), size=24)
    predicted = LearnedDownsampler(8)(warp(high, thetas))
    ones = torch.ones(2, 1, 3, 3)
    out = MultiViewOutput([features], [predicted], [ones], torch.zeros(()))
    assert multiview_loss(out).item() == pytest.approx(0.0, abs=1e-6)
    # A unit error everywhere costs 1 / (2 s^2) = 0.5; the CRF term adds its weight times it.
    wrong = MultiViewOutput([features + 1.0], [predicted], [ones], torch.tensor(2.0))
    assert multiview_loss(wrong, crf_weight=0.25).item() == pytest.approx(1.0, abs=1e-5)


def _featup_jitter(img, pad, zoom, x, y, flip):
    """FeatUp's apply_jitter, written out from its code (featup/datasets/JitteredImage.py)."""
    h, w = img.shape[2:]
    padded = torch.nn.functional.pad(img, [pad] * 4, mode="reflect")
    zoomed = padded
    if zoom > 1.0:
        zoomed = torch.nn.functional.interpolate(padded, scale_factor=zoom, mode="bilinear")
    cropped = zoomed[:, :, x : h + x, y : w + y]
    return torch.flip(cropped, [3]) if flip else cropped


def test_jitter_warps_match_featups_pad_zoom_crop_flip():
    # Same transform both ways on a smooth image; bilinear resampling differs a little at
    # pixel level, so the comparison is on a smooth ramp with a tolerance.
    size, pad = 64, 6
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = torch.stack([xx, yy, xx * yy])[None]
    from hrcam.train import upsampler as module

    for zoom, x, y, flip in ((1.0, 6, 6, False), (1.0, 0, 12, True), (1.5, 20, 33, False)):
        expected = _featup_jitter(img, pad, zoom, x, y, flip)
        valid = torch.floor(torch.tensor((size + 2 * pad) * zoom)) - size + 1
        zoomed = 0.0 if zoom > 1 else 0.9
        amount = (zoom - 1.0) / (module.MAX_ZOOM - 1.0)
        flipped = 0.0 if flip else 0.9
        u = torch.tensor([[zoomed, amount, (x + 0.5) / valid, (y + 0.5) / valid, flipped]])
        gen = _FixedGenerator(u)
        old = module.PAD_FRACTION
        module.PAD_FRACTION = pad / size
        try:
            theta = module.jitter_thetas(1, gen, size=size)
        finally:
            module.PAD_FRACTION = old
        got = warp(img, theta)
        # u is (rows, cols) in FeatUp's crop: x indexes rows, y columns.
        assert (got - expected).abs().mean() < 0.02, (zoom, x, y, flip)


class _FixedGenerator:
    """Stands in for a torch.Generator: torch.rand(n, 5, generator=...) is patched below."""

    def __init__(self, u):
        self.u, self.device = u, torch.device("cpu")


@pytest.fixture(autouse=True)
def _fixed_rand(monkeypatch):
    real = torch.rand

    def rand(*shape, generator=None, **kw):
        if isinstance(generator, _FixedGenerator):
            return generator.u.clone()
        return real(*shape, generator=generator, **kw)

    monkeypatch.setattr(torch, "rand", rand)


def test_sampled_crf_loss_matches_featups_formula():
    gen = torch.Generator().manual_seed(0)
    guidance = torch.randn(2, 3, 10, 12, generator=gen)
    features = torch.randn(2, 4, 10, 12, generator=gen)
    coords = torch.stack([torch.randint(0, 10, (30,), generator=gen),
                          torch.randint(0, 12, (30,), generator=gen)])  # fmt: skip
    total = 0.0
    for b in range(2):
        for i in range(30):
            for j in range(30):
                pi, pj = coords[:, i].float(), coords[:, j].float()
                d2 = (((pi - pj) / torch.tensor([10.0, 12.0])) ** 2).sum()
                (yi, xi), (yj, xj) = coords[:, i], coords[:, j]
                g2 = ((guidance[b, :, yi, xi] - guidance[b, :, yj, xj]) ** 2).sum()
                sim = 10 * torch.exp(-d2 / 0.2 - g2 / 0.3) + 3 * torch.exp(-d2 / 0.01)
                f2 = ((features[b, :, yi, xi] - features[b, :, yj, xj]) ** 2).sum()
                total += float(f2 * sim)
    assert sampled_crf_loss(guidance, features, coords).item() == pytest.approx(
        total / (2 * 30 * 30), rel=1e-5
    )


def _fit(store, classifier, run_dir, callbacks=()):
    from hrcam.train import train_upsampler

    return train_upsampler(
        data_root=store, run_dir=run_dir, classifier_checkpoint=classifier, epochs=2,
        batch_size=8, max_train_batches=2, max_val_batches=1, device="cpu", progress=False,
        callbacks=callbacks,
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
    assert float(a.stages[0].sigma_spatial.detach()) != 1.0


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
