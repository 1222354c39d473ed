"""hrcam.core and its neighbours: one min-max rule, one map validator, one class-index check,
one state-dict comparison, one reader of the bundled tables, one way to copy out a CI."""

from __future__ import annotations

import numpy as np
import pytest

from hrcam.core import maps as core_maps
from hrcam.core import tables
from hrcam.data import resources
from hrcam.methods import normalize_maps
from hrcam.metrics import normalize_map as metrics_normalize
from hrcam.metrics._validation import as_map as metrics_as_map
from hrcam.models import state_dicts
from hrcam.postprocess import steps
from hrcam.postprocess.validation import as_map as refine_as_map


def test_the_metrics_and_the_pipeline_normalise_alike():
    x = np.random.default_rng(0).normal(size=(17, 23)) * 40.0 - 3.0
    a = metrics_normalize(x)
    b = steps.normalize(x)
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_array_equal(b, a.astype(np.float32))  # float64 arithmetic in both
    assert a.min() == 0.0 and a.max() == 1.0
    assert not metrics_normalize(np.full((3, 3), 2.5)).any()


def test_batch_rule_is_the_single_map_rule_per_map():
    maps = np.random.default_rng(1).random((4, 9, 11)).astype(np.float32) * 7.0
    maps[2] = 3.0  # flat map -> zeros
    out = core_maps.normalize_batch(maps)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, normalize_maps(maps))
    for m, o in zip(maps, out, strict=True):
        np.testing.assert_allclose(o, core_maps.normalize_map(m), atol=1e-6)
    assert not out[2].any()


def test_one_validator_two_result_dtypes():
    f32 = np.ones((2, 3), np.float32)
    assert refine_as_map(f32, "x") is f32  # the pipeline keeps float32 and does not copy
    assert metrics_as_map(f32).dtype == np.float64  # the metrics compute in float64
    for check in (lambda v: refine_as_map(v, "cam"), metrics_as_map):
        with pytest.raises(ValueError, match="cam must be a 2-D map"):
            check(np.zeros((1, 2, 2)))
        with pytest.raises(ValueError, match=r"cam contains 1 NaN and 0 infinite"):
            check(np.array([[0.0, np.nan]]))


def test_class_indices_are_checked_the_same_everywhere():
    import torch

    from hrcam.models import low_res_cam

    core_maps.check_class_indices([0, 2, 2], 3)
    core_maps.check_class_indices([], 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got \[-1, 3\]"):
        core_maps.check_class_indices(np.array([3, -1, 3]), 3, "labels")
    # the CAM functions use it on tensors
    features, weight = torch.zeros(2, 4, 3, 3), torch.zeros(5, 4)
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 5\), got \[7\]"):
        low_res_cam(features, weight, [7, 7])


def test_state_dict_differences_names_missing_unexpected_and_reshaped_keys():
    own = {"a": np.zeros((2, 3)), "b": np.zeros(4), "c": np.zeros(1)}
    given = {"a": np.zeros((3, 2)), "c": np.zeros(1), "d": np.zeros(1)}
    missing, unexpected, mismatched = state_dicts.state_dict_differences(own, given)
    assert missing == ["b"]
    assert unexpected == ["d"]
    assert mismatched == ["a: expected (2, 3), found (3, 2)"]
    assert state_dicts.state_dict_differences(own, dict(own)) == ([], [], [])


def test_state_dict_differences_skips_only_keys_that_loading_fills_in():
    own = {"bn.weight": np.zeros(2), "bn.num_batches_tracked": np.zeros(()), "fc.weight": 0}
    given = {"bn.weight": np.zeros(2)}
    fills = state_dicts.BATCHNORM_FILLS_IN
    assert state_dicts.state_dict_differences(own, given)[0] == [
        "bn.num_batches_tracked",
        "fc.weight",
    ]
    assert state_dicts.state_dict_differences(own, given, fills)[0] == ["fc.weight"]
    text = state_dicts.differences_text(["k1", "k2", "k3", "k4"], [], ["s"])
    assert text == "missing ['k1', 'k2', 'k3'] (4), unexpected [] (0), shape mismatches ['s'] (1)"


def test_json_safe_turns_non_finite_floats_into_null_at_any_depth():
    import json
    import math

    from hrcam.core.tables import json_safe

    value = {"a": float("nan"), "b": [1.0, np.float32(np.inf), (np.int64(3), -math.inf)], "c": "x"}
    out = json_safe(value)
    assert out == {"a": None, "b": [1.0, None, [3, None]], "c": "x"}
    assert type(out["b"][2][0]) is int
    json.dumps(out, allow_nan=False)  # strict JSON


def test_resource_table_is_parsed_once_and_shared_by_its_readers():
    from hrcam.data.imagenet import imagenet_animal_classes
    from hrcam.models.wrap import imagenet_animal_indices, imagenet_class_names

    rows = resources.resource_table("imagenet_animal_classes.tsv")
    assert rows is resources.resource_table("imagenet_animal_classes.tsv")  # cached
    assert isinstance(rows, tuple) and all(isinstance(r, tuple) for r in rows)  # immutable
    assert len(rows) == 398 and rows[0] == ("0", "n01440764", "tench, Tinca tinca")
    assert imagenet_animal_indices() == [int(r[0]) for r in rows]
    assert imagenet_animal_classes()[0] == ("n01440764", "tench, Tinca tinca")
    names = [r[2] for r in resources.resource_table("imagenet_classes.tsv")]
    assert imagenet_class_names() == names and len(names) == 1000


def test_find_row_and_put_ci_read_one_summary_row():
    rows = [
        {"method": "a", "metric": "pxap", "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6},
        {"method": "b", "metric": "pxap", "difference": -0.1, "ci_low": -0.2, "ci_high": 0.0},
        {"method": "b", "metric": "pxap", "difference": 9.0, "ci_low": 9.0, "ci_high": 9.0},
    ]
    assert tables.find_row(rows, "b", "pxap") is rows[1]  # the first match
    with pytest.raises(KeyError, match="no 'mask_iou' row for method 'a'"):
        tables.find_row(rows, "a", "mask_iou")
    out: dict = {}
    tables.put_ci(out, "x", rows[0], "mean")
    tables.put_ci(out, "d", tables.find_row(rows, "b", "pxap"), "difference")
    assert out == {"x": 0.5, "x_lo": 0.4, "x_hi": 0.6, "d": -0.1, "d_lo": -0.2, "d_hi": 0.0}
    assert all(type(v) is float for v in out.values())
