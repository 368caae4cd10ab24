"""Tiny images written with Pillow for the image tests (no file of the repository is read)."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def gradient_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth ``(H, W, 3)`` uint8 image (JPEG keeps it within a few levels) with a distinct corner."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 40)
    image = np.stack([x * 200 // max(width - 1, 1), y * 200 // max(height - 1, 1), np.full_like(x, a)], -1)
    image[: height // 4, : width // 4] = (250, 250, 250)  # bright top-left block: shows the orientation
    return image.astype(np.uint8)


def save_jpeg(path: Path, array: np.ndarray, *, orientation: int | None = None, quality: int = 95) -> bytes:
    image = Image.fromarray(array)
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation  # EXIF Orientation tag
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, **kwargs)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    """Write ``array`` (uint8) in the IDX format: 0, 0, type 0x08, ndim, big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


class _Helpers:
    gradient_rgb = staticmethod(gradient_rgb)
    save_jpeg = staticmethod(save_jpeg)
    write_idx = staticmethod(write_idx)


@pytest.fixture
def img() -> type[_Helpers]:
    """The helpers of this folder (conftest modules are not importable under ``--import-mode=importlib``)."""
    return _Helpers
