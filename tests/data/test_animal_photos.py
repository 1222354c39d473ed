"""The reviewed animal-photo list and its loader."""

import numpy as np
import pytest

from hrcam.data import animal_photos
from hrcam.errors import HrcamError


def test_list_is_reviewed_and_consistent():
    photos = animal_photos.photo_list()
    keys = [p.key for p in photos]
    assert len(keys) == len(set(keys)) and len(photos) >= 80
    assert {p.package for p in photos} == {
        "gcompris-qt-data", "palapeli-data", "opencv-doc", "scikit-image"
    }  # fmt: skip
    for p in photos:
        assert p.license, p.key
        # A photo may be shown only with its credit.
        assert not (p.show and not p.credit), p.key
    assert not any(p.show for p in photos if p.package == "opencv-doc")


def test_centre_crop_keeps_the_centre():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # the centre square is white, the sides black
    crop = animal_photos.centre_crop(image, 50)
    assert crop.shape == (50, 50, 3)
    assert crop[5:-5, 5:-5].min() > 200


def test_missing_package_says_what_to_install(monkeypatch):
    photo = animal_photos.AnimalPhoto(
        "x", "/nonexistent/x.rcc", "a.webp", "gcompris-qt-data", "CC0-1.0", "me", "", None, True
    )
    monkeypatch.setattr(animal_photos, "photo_list", lambda: (photo,))
    assert animal_photos.missing_photo_packages() == ["gcompris-qt-data"]
    with pytest.raises(HrcamError, match="apt-get install gcompris-qt-data"):
        animal_photos.load_animal_photos(32)


@pytest.mark.skipif(
    bool(animal_photos.missing_photo_packages()), reason="photo packages not installed"
)
def test_loads_real_photos_shown_first():
    photos, images = animal_photos.load_animal_photos(64, limit=3)
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    assert all(p.show for p in photos) and images.std() > 10
