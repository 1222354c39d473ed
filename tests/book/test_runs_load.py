"""hrcam.book.load_run: the notebooks' shared "open the run's model and val split"."""

from __future__ import annotations

import pytest

from hrcam.book import load_run, stage_dir

SIZE = 32


def test_load_run_names_the_missing_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 01_dataset first"):
        load_run(tmp_path, "cpu")
    stage_dir(tmp_path, "01_dataset", create=True)
    with pytest.raises(FileNotFoundError, match="run notebook 03_expansion first"):
        load_run(tmp_path, "cpu")


@pytest.mark.slow
def test_load_run_returns_the_saved_model_and_val_split(tmp_path):
    import torch

    from hrcam.data.synthetic import generate_synthetic
    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    generate_synthetic(
        stage_dir(tmp_path, "01_dataset"), num_train=2, num_val=4, image_size=SIZE,
        num_classes=3, num_workers=0,
    )  # fmt: skip
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    saved = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    save_checkpoint(
        stage_dir(tmp_path, "03_expansion", create=True) / "best.pt",
        saved,
        metadata={"image_size": SIZE},
    )

    model, val = load_run(tmp_path, None, require_masks=True)
    assert len(val) == 4 and val.has_masks
    model = model.cpu().eval()
    state = model.state_dict()
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(state[name], value, msg=name)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model.classifier(x), saved.classifier(x))
