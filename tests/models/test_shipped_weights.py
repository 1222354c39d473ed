"""The shipped learned maps and their model cards (issue 32): each card tells the truth."""

import json
import shlex
import shutil
import subprocess
import sys

import pytest
import torch

from hrcam.models.shipped import (
    ShippedWeightsError,
    file_sha256,
    load_shipped,
    read_card,
    shipped_names,
    update_card,
    weights_dir,
)

NAMES = shipped_names()


@pytest.fixture(scope="module")
def lite0():
    from hrcam.models.lite0 import efficientnet_lite0

    return efficientnet_lite0().eval()


def test_both_learned_maps_ship():
    assert {"lite0_expansion", "lite0_jbu"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_card_matches_its_file(name, lite0):
    from hrcam.models.fingerprint import classifier_fingerprint

    card = read_card(name)
    path = weights_dir() / card["file"]
    assert file_sha256(path) == card["sha256"]
    assert path.stat().st_size <= 15 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert {k: list(v.shape) for k, v in payload["state"].items()} == card["shapes"]
    assert payload["classifier_fingerprint"] == card["classifier_fingerprint"]
    assert card["classifier_fingerprint"] == classifier_fingerprint(lite0)
    # The curve spans at least 64x in images seen with at least 5 points; it ends where the
    # card says the weights are.
    seen = [p["images_seen"] for p in card["curve"]]
    assert len(seen) >= 5 and seen[-1] >= 64 * seen[0] and seen == sorted(seen)
    assert card["images_seen"] == seen[-1]
    assert len(card["seeds"]) >= 3
    loaded = load_shipped(name, lite0)
    assert loaded is not None


def test_the_shipped_expansion_network_is_exact_for_the_animal_classes(lite0):
    from hrcam.models.wrap import imagenet_animal_indices

    model = load_shipped("lite0_expansion", lite0)
    share = model.expansion.kept_share(lite0.fc.weight)
    assert float(share[imagenet_animal_indices()].min()) > 1 - 1e-6


def test_an_altered_file_or_another_classifier_is_refused(tmp_path, lite0):
    from hrcam.models import build_classifier

    for name in NAMES:
        shutil.copy(weights_dir() / f"{name}.pt", tmp_path)
        shutil.copy(weights_dir() / f"{name}.card.json", tmp_path)
    data = bytearray((tmp_path / "lite0_jbu.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "lite0_jbu.pt").write_bytes(bytes(data))
    with pytest.raises(ShippedWeightsError, match="differs from its card"):
        load_shipped("lite0_jbu", lite0, tmp_path)
    with pytest.raises(ShippedWeightsError, match="trained for the classifier"):
        load_shipped("lite0_expansion", build_classifier("densenet_compact", num_classes=3))
    with pytest.raises(ShippedWeightsError, match="lite0_expansion"):
        read_card("no_such_weights")


def test_a_card_takes_new_measurements_but_not_a_new_identity(tmp_path):
    for suffix in (".pt", ".card.json"):
        shutil.copy(weights_dir() / f"lite0_jbu{suffix}", tmp_path)
    before = read_card("lite0_jbu", tmp_path)
    seeds = [*before["seeds"], {"seed": 3, "images_seen": 64}]
    card = update_card("lite0_jbu", {"seeds": seeds}, tmp_path)
    assert read_card("lite0_jbu", tmp_path) == card == {**before, "seeds": seeds}
    with pytest.raises(ShippedWeightsError, match="sha256 describe the weights file"):
        update_card("lite0_jbu", {"sha256": "sha256:0", "seeds": []}, tmp_path)
    assert read_card("lite0_jbu", tmp_path) == card  # nothing written
    assert file_sha256(tmp_path / "lite0_jbu.pt") == card["sha256"]


def _run(command: str, store, runs) -> subprocess.CompletedProcess:
    args = shlex.split(command.replace("STORE", str(store)).replace("RUNS", str(runs)))
    if args[0] == "hrcam":
        args = [sys.executable, "-m", "hrcam", *args[1:]]
    elif args[0] == "python":
        args = [sys.executable, *args[1:]]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_cards_command_starts_training_with_the_recorded_first_step_loss(name, tmp_path):
    from hrcam.data.cutouts import missing_cutout_packages

    if missing_cutout_packages():
        pytest.skip(f"needs the Debian packages {missing_cutout_packages()} (make photos)")
    card = read_card(name)
    store, runs = tmp_path / "store", tmp_path / "runs"
    _run(card["data_command"], store, runs)
    out = _run(card["train_command"] + " --first-step-only", store, runs)
    loss = json.loads(out.stdout.strip().splitlines()[-1])["first_step_loss"]
    recorded = card["first_step_loss"]
    assert loss == pytest.approx(recorded["value"], abs=recorded["tolerance"])
