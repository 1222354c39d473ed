"""The paper's augmentation: torchvision-exact geometry, joint masks, determinism, devices."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from hrcam.data.augment import (
    apply_augmentation,
    augment_batch,
    paper_augmentation,
    sample_augmentation_params,
)


def _blob_batch(n=6, h=40, w=48):
    """Images whose red channel is 255 exactly on an off-centre rectangle (the mask)."""
    masks = torch.zeros(n, h, w, dtype=torch.uint8)
    for i in range(n):
        masks[i, 5 + i : 22 + i, 8 + 2 * i : 30 + i] = 1
    images = torch.zeros(n, 3, h, w, dtype=torch.uint8)
    images[:, 0] = masks * 255
    images[:, 1] = 60
    return images, masks


def test_batched_warp_equals_torchvision_affine_per_sample():
    torch.manual_seed(0)
    img = torch.rand(6, 3, 40, 48)
    prm = sample_augmentation_params(6, 40, 48, torch.Generator().manual_seed(1), p=1.0)
    prm["flip"] = torch.tensor([True, False, True, False, True, False])
    out, _ = apply_augmentation(img, prm)
    for i in range(6):
        x = F.horizontal_flip(img[i]) if prm["flip"][i] else img[i]
        ref = F.affine(
            x,
            angle=prm["angle"][i].item(),
            translate=[prm["tx"][i].item(), prm["ty"][i].item()],
            scale=prm["scale"][i].item(),
            shear=[prm["shear"][i].item(), 0.0],
            interpolation=InterpolationMode.BILINEAR,
        )
        assert torch.allclose(out[i], ref, atol=1e-4)


def test_parameter_ranges_and_activation_probability():
    prm = sample_augmentation_params(4000, 100, 200, torch.Generator().manual_seed(0), p=0.5)
    for key, identity in (("angle", 0.0), ("scale", 1.0), ("tx", 0.0), ("shear", 0.0)):
        active = (prm[key] != identity).float().mean().item()
        assert 0.46 < active < 0.54, key
    assert 0.46 < prm["flip"].float().mean().item() < 0.54
    assert prm["angle"].abs().max() <= 180 and prm["angle"].abs().max() > 170
    assert prm["scale"].min() >= 0.9 and prm["scale"].max() <= 1.1
    assert prm["tx"].abs().max() == 40 and prm["ty"].abs().max() == 20  # 20 % of 200 / 100
    assert torch.equal(prm["tx"], prm["tx"].round())
    assert prm["shear"].abs().max() <= 5


def test_masks_move_with_images():
    images, masks = _blob_batch()
    g = torch.Generator().manual_seed(3)
    out, out_masks = augment_batch(images, masks, generator=g, p=1.0)
    assert out.dtype == torch.uint8 and out_masks.dtype == torch.uint8
    red = out[:, 0] > 127
    m = out_masks.bool()
    iou = (red & m).sum((1, 2)).float() / (red | m).sum((1, 2)).float()
    assert iou.min() > 0.85, iou
    assert not torch.equal(out_masks, masks)  # they did move


def test_deterministic_given_generator_and_per_sample():
    images, masks = _blob_batch()
    a = augment_batch(images, masks, generator=torch.Generator().manual_seed(5))
    b = augment_batch(images, masks, generator=torch.Generator().manual_seed(5))
    c = augment_batch(images, masks, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    same = images[:1].expand(8, -1, -1, -1).contiguous()
    out, _ = augment_batch(same, generator=torch.Generator().manual_seed(0), p=1.0)
    assert len({o.float().sum().item() for o in out}) > 1  # each sample gets its own draw


def test_p_zero_is_identity_and_fill_value():
    images, masks = _blob_batch()
    out, m = augment_batch(images, masks, p=0.0)
    assert torch.equal(out, images) and torch.equal(m, masks)
    prm = sample_augmentation_params(1, 40, 48, p=0.0)
    prm["tx"][:] = 10.0  # shift right by 10 px: the first 10 columns come from outside
    out, _ = apply_augmentation(images[:1].float(), prm, fill=7.0)
    assert torch.allclose(out[0, :, :, :10], torch.tensor(7.0))


def test_v2_transform_moves_image_and_mask_together():
    images, masks = _blob_batch(1)
    torch.manual_seed(0)
    aug = paper_augmentation(p=1.0)
    out = aug({"image": tv_tensors.Image(images[0]), "mask": tv_tensors.Mask(masks[0])})
    assert isinstance(out["image"], tv_tensors.Image) and isinstance(out["mask"], tv_tensors.Mask)
    red, m = out["image"][0] > 127, out["mask"].bool()
    assert (red & m).sum() / (red | m).sum() > 0.85
    assert not torch.equal(out["mask"], masks[0])


def test_bad_arguments():
    images, _ = _blob_batch()
    with pytest.raises(ValueError, match="p must be"):
        augment_batch(images, p=1.5)
    with pytest.raises(ValueError, match="scale"):
        augment_batch(images, scale=(1.2, 0.9))
    with pytest.raises(ValueError, match="images must be"):
        augment_batch(images[0])
    with pytest.raises(ValueError, match="masks must be"):
        augment_batch(images, torch.zeros(6, 10, 10))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    images, masks = _blob_batch()
    cpu = augment_batch(images, masks, generator=torch.Generator().manual_seed(2))
    gpu = augment_batch(images.cuda(), masks.cuda(), generator=torch.Generator().manual_seed(2))
    assert gpu[0].is_cuda and gpu[1].is_cuda
    assert (gpu[0].cpu().int() - cpu[0].int()).abs().max() <= 1
    assert (gpu[1].cpu() != cpu[1]).float().mean() < 0.01
