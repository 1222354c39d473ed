"""The method registry: one entry per method, read by the evaluation, report and CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hrcam import cli
from hrcam.evaluate import EvaluateConfig, EvaluateConfigError, EvaluationResult
from hrcam.methods import ALL_METHODS, LABELS, MethodMaps, SaliencyMethod, build_methods, registry
from hrcam.methods.registry import UnknownMethodError, get_method, method_names, register_method


def test_registry_holds_every_method_once_in_table_order():
    names = method_names()
    assert names == ALL_METHODS
    assert names[:4] == ("low_res_cam", "high_res_cam", "refined_paper", "refined_reference")
    assert len(set(names)) == len(names) == 18
    assert {method_names(f) for f in registry.FAMILIES} == {
        names[:4],
        ("gradcam", "gradcam++", "layercam", "scorecam", "sess"),
        ("cam_jbu", "layercam_fused", "refinecam", "fullgrad", "hirescam", "cam_crf", "cam_guided",
         "cam_bilateral", "featup_jbu"),
    }  # fmt: skip
    assert LABELS == {n: get_method(n).label for n in names}


def test_costs_and_image_limits_are_entry_attributes():
    score = get_method("scorecam")
    assert score.image_cap == "per_channel"
    # The evaluation, not the registry, says which of its settings limits each cost class.
    from hrcam.evaluate.config import IMAGE_CAP_FIELDS, cap_field_of
    from hrcam.methods.registry import IMAGE_CAPS

    assert set(IMAGE_CAP_FIELDS) == set(IMAGE_CAPS)  # each cost class has its limit
    assert cap_field_of("scorecam") == IMAGE_CAP_FIELDS["per_channel"] == "score_cam_limit"
    assert cap_field_of("gradcam") is None
    assert score.forward_passes is None  # one pass per channel of its target layer
    assert not score.needs_gradients
    assert get_method("gradcam").needs_gradients and get_method("gradcam").forward_passes == 2.5
    assert [n for n in method_names() if get_method(n).image_cap] == ["scorecam"]
    with pytest.raises(UnknownMethodError, match="unknown method 'nope'"):
        get_method("nope")


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry with the built-ins, restored after the test."""
    method_names()  # load the built-ins first
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_a_new_method_is_one_entry(scratch_registry):
    def build(model, options):
        def fn(images, targets):
            return MethodMaps(np.ones((len(targets), *images.shape[-2:]), np.float32))

        return SaliencyMethod("ones", fn, 0.0)

    register_method("ones", label="All ones", family="grad-cam", forward_passes=0.0)(build)
    assert "ones" in method_names("grad-cam")
    assert "ones" in EvaluateConfig().methods
    assert get_method("ones").label == "All ones"
    assert set(build_methods(None, ["ones"])) == {"ones"}  # the builder ignores the model
    with pytest.raises(ValueError, match="already registered"):
        register_method("ones", label="x", family="grad-cam")(build)
    with pytest.raises(ValueError, match="unknown method family"):
        register_method("twos", label="x", family="nope")


def test_a_zero_cap_drops_the_method_and_a_cap_limits_its_images():
    cfg = EvaluateConfig(methods=["low_res_cam", "scorecam"], score_cam_limit=0)
    assert cfg.evaluated_methods() == ["low_res_cam"]
    cfg = dataclasses.replace(cfg, score_cam_limit=3)
    assert cfg.evaluated_methods() == ["low_res_cam", "scorecam"]
    assert cfg.images_for("scorecam", 10) == 3 and cfg.images_for("low_res_cam", 10) == 10


def test_config_is_frozen_validated_and_normalised():
    cfg = EvaluateConfig(methods=["gradcam"], road_percentiles=[10, 50])
    assert cfg.methods == ("gradcam",) and cfg.road_percentiles == (10.0, 50.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.limit = 3
    for bad, match in (
        ({"target": "other"}, "target must be"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"road_limit": -1}, "road_limit must be an integer >= 0"),
        ({"limit": 0}, "limit must be a positive integer"),
        ({"methods": ["gradcam", "gradcam"]}, "must not repeat"),
        ({"methods": ["nope"]}, "unknown method"),
    ):
        with pytest.raises(EvaluateConfigError if "method" not in match else ValueError,
                           match=match):  # fmt: skip
            EvaluateConfig(**bad)
    with pytest.raises(TypeError, match="unknown evaluation option"):
        EvaluateConfig.from_options(limt=3)


def test_cli_choices_and_defaults_come_from_the_registry_and_config(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["evaluate", "--checkpoint", "c", "--data", "d", "-o", "o"])
    cfg = EvaluateConfig()
    for flag, field in (("batch_size", "batch_size"), ("score_cam_limit", "score_cam_limit"),
                        ("faithfulness_limit", "faithfulness_limit"), ("target", "target"),
                        ("deletion_steps", "deletion_steps"), ("road_limit", "road_limit"),
                        ("bootstrap", "n_boot"), ("seed", "seed"), ("limit", "limit"),
                        ("workers", "workers")):  # fmt: skip
        assert getattr(args, flag) == getattr(cfg, field), flag
    assert tuple(args.road_percentiles) == cfg.road_percentiles
    assert EvaluateConfig.from_options(args.methods).methods == registry.runnable_method_names()
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in method_names())


def _result() -> EvaluationResult:
    row = {"label": "", "metric_label": "", "n": 4, "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    table = [{**row, "method": m, "metric": "pxap"} for m in ("low_res_cam", "scorecam")]
    s5 = {"n": 2, "method_mean": 0.7, "low_res_mean": 0.2, "difference": 0.5, "ci_low": 0.1,
          "ci_high": 0.9, "metric": "pointing", "method": "scorecam"}  # fmt: skip
    config = {"num_images": 4, "split": "val", "target": "predicted", "score_cam_limit": 2}
    return EvaluationResult(
        methods=["low_res_cam", "scorecam"],
        table=table,
        per_image=[],
        section5=[{**s5, "subset": "low-res miss"}, {**s5, "subset": "low-res hit", "n": 0}],
        curves={},
        examples={},
        config=config,
    )


def test_markdown_options_replace_the_books_string_patching():
    result = _result()
    full = result.to_markdown()
    assert full.startswith("# Localization and faithfulness\n")
    assert "\n## Paper §5" in full
    assert "Score-CAM on the first 2 images" in full  # the registry's image limit, by label
    patched = full.split("\n", 1)[1].replace("\n## ", "\n**").replace("CAM?\n", "CAM?**\n")
    assert result.to_markdown(title=False, section_headings=False) == patched
    assert "No images in subset *low-res hit*." in full
