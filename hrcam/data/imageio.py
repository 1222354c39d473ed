"""Robust image decoding for dataset builders: every file becomes RGB uint8 or a clear error.

What is converted (and how):

* grayscale (``L``, ``LA``, ``1``), palette (``P``, with or without transparency), ``CMYK``
  (ILSVRC-2012 has a few CMYK JPEGs), ``YCbCr``, ``LAB``/``HSV`` -> RGB through Pillow;
* alpha channels (``RGBA``, ``LA``, ``PA``) are composited onto white;
* 16-bit images are scaled by their bit depth, the same way for gray and colour: Pillow reads
  a 16-bit colour PNG by keeping each value's high byte, so a 16-bit gray one (``I;16``) is
  read as ``value >> 8`` too (a dark image stays dark; Pillow's ``convert`` would clip it at
  255). 32-bit integer and float images (``I``, ``F``), which carry no bit depth, are scaled
  from their own range (a float image already in [0, 1] from [0, 1]);
* an embedded ICC colour profile (Adobe RGB, Display P3, ...) is honoured: the colours are
  converted to sRGB, the space the classifiers were trained in, with Pillow's ``ImageCms``;
* the EXIF orientation tag of camera photos is applied (the picture is turned upright);
* tiny images (even 1x1) are simply resized up; big JPEGs are decoded at a reduced scale
  (``draft``) before resizing.

What is rejected with :class:`ImageDecodeError` (a ``ValueError``) and a one-line reason:
zero-byte files, files that are not images (even with an image name), truncated or corrupt
files, and images with more than ``max_pixels`` pixels (checked from the header, before
decoding, so a "decompression bomb" never allocates its memory).

Resizing follows the paper: straight to ``size x size`` (aspect ratio not kept), with
Pillow's antialiased bilinear filter for images and nearest neighbour for label maps.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageDecodeError",
    "decode_image",
    "decode_label_map",
    "decode_rgba",
]

DEFAULT_MAX_PIXELS = 300_000_000  # well above any real photo (ImageNet's largest is ~ 40 Mpx)


class ImageDecodeError(ValueError):
    """A file could not be turned into an image; ``str(err)`` says why."""


def _open(path: str | os.PathLike[str], max_pixels: int):
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ImageDecodeError("is a folder, not an image file")
    if not path.exists():
        raise ImageDecodeError("cannot read file: no such file")
    if not path.is_file():
        raise ImageDecodeError("not a regular file (a device, FIFO or socket), not an image")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning; we check below
            img = Image.open(path)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not an image (format not recognised)") from exc
    except Image.DecompressionBombError as exc:  # over twice Pillow's own pixel limit
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageDecodeError(
            f"image too large (over {min(limit, max_pixels):,} pixels, Pillow's safety limit)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"unreadable or truncated image header ({exc})") from exc
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageDecodeError(f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        img.close()
        raise ImageDecodeError(f"image too large ({w}x{h} > {max_pixels:,} pixels)")
    return img


def _load(img, path) -> None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"corrupt or truncated image data ({exc})") from exc


def _to_rgb(img):
    """Any Pillow mode -> RGB, compositing alpha onto white and rescaling high bit depths."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and img.format == "PNG"):
            # Pillow reads a 16-bit colour PNG by keeping the high byte of each value; read
            # 16-bit gray (I;16, or I in older Pillow) the same way, so that a picture and its
            # gray copy agree. (Stretching from the values' own maximum made a dark image
            # hundreds of times too bright.)
            gray = (np.clip(arr, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
            return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
        lo, hi = arr.min(), arr.max()
        if mode == "F" and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0  # a float image in [0, 1], the usual convention
        elif hi <= 255 and lo >= 0:
            lo, hi = 0.0, 255.0  # already in 8-bit range
        arr = (arr - lo) / max(hi - lo, 1e-12) * 255.0
        gray = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


#: Modes whose embedded ICC profile is applied (an RGB profile on RGB values).
_ICC_MODES = ("RGB", "RGBA", "P", "PA")


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes):
    """Return the littleCMS transform of an RGB profile to sRGB (``None``: not RGB, or broken).

    Cached: a data set's photos mostly share one or two profiles, and building a transform
    costs more than applying it.
    """
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != "RGB":
            return None
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile is no reason to reject the pixels


def _icc_to_srgb(rgb, icc: bytes | None):
    """Convert an RGB image whose source carried the RGB ICC profile ``icc`` to sRGB.

    Without a profile (or with one that is not an RGB profile, or that littleCMS cannot read)
    the image is returned as it is: its values are taken to be sRGB, as before.
    """
    transform = _srgb_transform(bytes(icc)) if icc else None
    if transform is None:
        return rgb
    from PIL import ImageCms

    try:
        return ImageCms.applyTransform(rgb, transform)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return rgb


def _exif_upright(img):
    """Turn the image upright by its EXIF orientation tag (return it as is when it has none)."""
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):
        return img  # an unreadable EXIF block is no reason to reject the pixels
    if orientation in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def decode_image(
    path: str | os.PathLike[str], size: int | None = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode ``path`` to an RGB uint8 array ``(size, size, 3)`` (or native size if None).

    Raises
    ------
    ImageDecodeError
        With the reason, for anything that is not a decodable image.
    """
    from PIL import Image

    img = _open(path, max_pixels)
    try:
        if size is not None and img.format == "JPEG":
            # decode at a reduced DCT scale when the image is much bigger than needed
            img.draft("RGB", (int(size), int(size)))
        _load(img, path)
        try:
            # Camera photos: honour the EXIF orientation tag, as `hrcam explain` does, so that
            # training and inference see the same picture.
            icc = img.info.get("icc_profile") if img.mode in _ICC_MODES else None
            rgb = _icc_to_srgb(_to_rgb(_exif_upright(img)), icc)
            if size is not None and rgb.size != (size, size):
                rgb = rgb.resize((int(size), int(size)), Image.Resampling.BILINEAR)
            arr = np.asarray(rgb, dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise ImageDecodeError(f"cannot convert image mode {img.mode!r} ({exc})") from exc
    finally:
        img.close()
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageDecodeError(f"unexpected decoded shape {arr.shape}")
    return arr


def decode_rgba(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` at its own size to an RGBA uint8 array ``(H, W, 4)``, colours in sRGB.

    The same checks as :func:`decode_image` (empty, truncated, not an image, over
    ``max_pixels`` from the header); the alpha channel is kept (opaque where the file has
    none), and an embedded RGB ICC profile is applied to the colours. What is not a decodable
    image raises :class:`ImageDecodeError` with the reason, as there.
    """
    img = _open(path, max_pixels)
    try:
        _load(img, path)
        try:
            upright = _exif_upright(img)
            icc = img.info.get("icc_profile") if img.mode in _ICC_MODES else None
            rgba = upright.convert("RGBA")
            rgb = _icc_to_srgb(rgba.convert("RGB"), icc)
            arr = np.dstack([np.asarray(rgb, np.uint8), np.asarray(rgba, np.uint8)[..., 3]])
        except (OSError, ValueError) as exc:
            raise ImageDecodeError(f"cannot convert image mode {img.mode!r} ({exc})") from exc
    finally:
        img.close()
    return arr


def decode_label_map(
    path: str | os.PathLike[str], size: int | None = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode a single-channel label image (e.g. a trimap) to ``(size, size)`` integers.

    Resized with nearest neighbour so that label values are never blended.
    """
    from PIL import Image

    img = _open(path, max_pixels)
    try:
        _load(img, path)
        img = _exif_upright(img)
        if img.mode not in ("L", "P", "I", "I;16", "1"):
            img = img.convert("L")
        if size is not None and img.size != (size, size):
            img = img.resize((int(size), int(size)), Image.Resampling.NEAREST)
        arr = np.asarray(img).astype(np.int64)
    finally:
        img.close()
    if arr.ndim != 2:
        raise ImageDecodeError(f"label map is not single-channel (shape {arr.shape})")
    return arr
