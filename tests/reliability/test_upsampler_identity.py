"""A learned upsampler is used only for the classifier it was trained for (issue #33 item 3),
and a bad ``--upsampler`` or a missing one gets a clear line (item 7)."""

from __future__ import annotations

import pytest
import torch

from hrcam.models import HRCAM, build_classifier, build_expansion, load_checkpoint, save_checkpoint
from hrcam.models.fingerprint import classifier_fingerprint
from hrcam.models.jbu import (
    UpsamplerError,
    build_upsampler,
    load_upsampler,
    save_upsampler,
    with_upsampler,
)

EVAL = ("--limit", "2", "--faithfulness-limit", "0", "--road-limit", "0", "--bootstrap", "20",
        "--no-progress")  # fmt: skip


def _upsampler_for(checkpoint, path):
    """A (marked trained) upsampler for ``checkpoint``'s classifier, saved as ``train`` does."""
    upsampler = build_upsampler(load_checkpoint(checkpoint).classifier)
    upsampler.trained.fill_(True)
    return save_upsampler(path, upsampler, {"classifier_checkpoint": str(checkpoint)})


@pytest.fixture(scope="module")
def other_checkpoint(tiny_run, tmp_path_factory):
    """An expansion checkpoint like tiny_run's (same arch, k, stride), another classifier."""
    from tests.conftest import TINY_CLASSES, TINY_SIZE

    torch.manual_seed(123)
    clf = build_classifier("densenet_compact", num_classes=TINY_CLASSES)
    model = HRCAM(clf, build_expansion(clf, image_size=TINY_SIZE)).eval()
    path = tmp_path_factory.mktemp("other") / "thin_parts.pt"
    return save_checkpoint(path, model, metadata={"image_size": TINY_SIZE})


def test_the_upsampler_records_its_classifier(tiny_run, tmp_path):
    ckpt, _ = tiny_run
    path = _upsampler_for(ckpt, tmp_path / "up.pt")
    payload = torch.load(path, weights_only=True)
    classifier = load_checkpoint(ckpt).classifier
    assert payload["config"]["classifier_fingerprint"] == classifier_fingerprint(classifier)
    assert load_upsampler(path, classifier).checkpoint == str(path)


def test_an_upsampler_for_another_classifier_is_refused(tiny_run, other_checkpoint, tmp_path):
    ckpt, _ = tiny_run
    path = _upsampler_for(ckpt, tmp_path / "up.pt")
    other = load_checkpoint(other_checkpoint)
    with pytest.raises(UpsamplerError) as info:
        load_upsampler(path, other.classifier, classifier_source=other_checkpoint)
    message = str(info.value)
    assert "\n" not in message
    for name in (str(path), str(ckpt), str(other_checkpoint)):
        assert name in message
    theirs = classifier_fingerprint(other.classifier)
    ours = classifier_fingerprint(load_checkpoint(ckpt).classifier)
    assert ours[:23] in message and theirs[:23] in message
    # The Python path refuses it too.
    with pytest.raises(UpsamplerError, match="was trained for the classifier of"):
        with_upsampler(other.model(), load_upsampler(path))


def test_evaluate_refuses_it_and_writes_nothing(tiny_run, other_checkpoint, tmp_path, run_cli):
    ckpt, store = tiny_run
    path = _upsampler_for(ckpt, tmp_path / "up.pt")
    status, _, err = run_cli("evaluate", "--checkpoint", other_checkpoint, "--data", store,
                             "--methods", "featup_jbu", "--upsampler", path, "-o",
                             tmp_path / "e", *EVAL)  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert str(other_checkpoint) in err and str(ckpt) in err and "Traceback" not in err
    assert not (tmp_path / "e").exists() or not any((tmp_path / "e").iterdir())


def test_the_report_names_the_upsampler(tiny_run, tmp_path, run_cli):
    ckpt, store = tiny_run
    path = _upsampler_for(ckpt, tmp_path / "up.pt")
    status, _, err = run_cli("evaluate", "--checkpoint", ckpt, "--data", store, "--methods",
                             "low_res_cam", "featup_jbu", "--upsampler", path, "-o",
                             tmp_path / "e", *EVAL)  # fmt: skip
    assert status == 0, err
    report = (tmp_path / "e" / "report.md").read_text()
    fingerprint = classifier_fingerprint(load_checkpoint(ckpt).classifier)
    assert f"`{path}`" in report and fingerprint in report and f"`{ckpt}`" in report


def test_an_old_upsampler_without_the_record_is_accepted_with_a_warning(tiny_run, tmp_path):
    ckpt, _ = tiny_run
    path = _upsampler_for(ckpt, tmp_path / "up.pt")
    payload = torch.load(path, weights_only=True)
    del payload["config"]["classifier_fingerprint"]
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="records no classifier fingerprint"):
        load_upsampler(path, load_checkpoint(ckpt).classifier)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x80\x02junk that is not a pickle" * 3, b"hello, I am text\n", bytes(range(256))],
)
def test_a_junk_file_as_upsampler_is_named_as_such(tiny_run, tmp_path, run_cli, content):
    ckpt, store = tiny_run
    (tmp_path / "junk.pt").write_bytes(content)
    status, _, err = run_cli("evaluate", "--checkpoint", ckpt, "--data", store, "--methods",
                             "featup_jbu", "--upsampler", tmp_path / "junk.pt", "-o",
                             tmp_path / "e", *EVAL)  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "is not an hrcam upsampler checkpoint" in err and "Traceback" not in err


def test_featup_jbu_without_upsampler_names_the_cli_option(tiny_run, tmp_path, run_cli):
    ckpt, store = tiny_run
    status, _, err = run_cli("evaluate", "--checkpoint", ckpt, "--data", store, "--methods",
                             "featup_jbu", "-o", tmp_path / "e", *EVAL)  # fmt: skip
    assert status == 2, err
    assert "--upsampler" in err and "hrcam train upsampler" in err
