"""Decoding (EXIF, grayscale, RGBA, truncated, missing) and the image datasets (raise vs skip)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from partialml.data.images import (
    ArrayImageDataset,
    ImageDataset,
    decode_image_file,
    find_bad_images,
)
from partialml.data.transforms import build_transforms
from partialml.errors import PartialMLError

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning"
)  # torchvision 0.29: decoders -> torchcodec


def pil_reference(path: Path) -> np.ndarray:
    """What Pillow shows: EXIF orientation applied, converted to RGB, ``(H, W, 3)``."""
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def test_jpeg_decodes_to_uint8_rgb_chw_close_to_pillow(tmp_path: Path, img) -> None:
    array = img.gradient_rgb(30, 50)
    img.save_jpeg(tmp_path / "a.jpg", array)
    out = decode_image_file(tmp_path / "a.jpg")
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 30, 50)
    ref = pil_reference(tmp_path / "a.jpg").astype(int)
    assert np.abs(out.permute(1, 2, 0).numpy().astype(int) - ref).mean() < 2.0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path: Path, img, orientation: int) -> None:
    array = img.gradient_rgb(20, 40)  # stored H=20, W=40
    path = tmp_path / f"rot{orientation}.jpg"
    img.save_jpeg(path, array, orientation=orientation)
    out = decode_image_file(path)
    displayed = (40, 20) if orientation in (6, 8) else (20, 40)
    assert tuple(out.shape[1:]) == displayed
    ref = pil_reference(path).astype(int)
    assert ref.shape[:2] == displayed
    assert np.abs(out.permute(1, 2, 0).numpy().astype(int) - ref).mean() < 2.0
    # the bright block stored at the top-left is where the EXIF spec puts it on display
    h, w = displayed
    corners = {
        "top-left": out[:, : h // 4, : w // 4],
        "top-right": out[:, : h // 4, -(w // 4) :],
        "bottom-left": out[:, -(h // 4) :, : w // 4],
        "bottom-right": out[:, -(h // 4) :, -(w // 4) :],
    }
    brightest = max(corners, key=lambda k: corners[k].float().mean().item())
    assert brightest == {3: "bottom-right", 6: "top-right", 8: "bottom-left"}[orientation]


def test_grayscale_png_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7) * 3
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = decode_image_file(tmp_path / "g.png")
    assert tuple(out.shape) == (3, 12, 7)
    for c in range(3):
        assert np.array_equal(out[c].numpy(), gray)


def test_rgba_png_drops_alpha_like_pillow_convert(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = decode_image_file(tmp_path / "a.png")
    assert np.array_equal(out.permute(1, 2, 0).numpy(), rgba[..., :3])
    assert np.array_equal(out.permute(1, 2, 0).numpy(), pil_reference(tmp_path / "a.png"))


def test_sixteen_bit_png_is_scaled_to_uint8(tmp_path: Path) -> None:
    values = np.array([[0, 256 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    out = decode_image_file(tmp_path / "d.png")
    assert out.dtype == torch.uint8
    assert out[0, 0].tolist() == [0, 100, 255]


def test_bmp_falls_back_to_pillow(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.bmp")
    assert np.array_equal(decode_image_file(tmp_path / "x.bmp").permute(1, 2, 0).numpy(), rgb)


def test_truncated_missing_empty_and_directory_name_the_file(tmp_path: Path, img) -> None:
    data = img.save_jpeg(tmp_path / "full.jpg", img.gradient_rgb(40, 40))
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "folder.jpg").mkdir()
    cases = {
        "cut.jpg": "truncated",
        "missing.jpg": "not found",
        "empty.png": "empty",
        "text.jpg": "cannot decode",
        "folder.jpg": "directory",
    }
    for name, words in cases.items():
        with pytest.raises(PartialMLError) as info:
            decode_image_file(tmp_path / name)
        message = str(info.value)
        assert str(tmp_path / name) in message and words in message, message
        assert "\n" not in message and ".cpp" not in message


def make_folder(tmp_path: Path, img) -> list[str]:
    img.save_jpeg(tmp_path / "a.jpg", img.gradient_rgb(375 // 10, 500 // 10))
    Image.fromarray(np.full((8, 8), 7, np.uint8), mode="L").save(tmp_path / "b.png")
    data = img.save_jpeg(tmp_path / "c.jpg", img.gradient_rgb(30, 30))
    (tmp_path / "c.jpg").write_bytes(data[:200])  # truncated
    return ["a.jpg", "b.png", "c.jpg", "gone.jpg"]


def test_dataset_returns_transformed_image_and_index(tmp_path: Path, img) -> None:
    paths = make_folder(tmp_path, img)
    ds = ImageDataset(paths[:2], root=tmp_path, transform=build_transforms("ll", image_size=24, train=False))
    assert len(ds) == 2
    for i in range(2):
        image, index = ds[i]
        assert index == i and isinstance(index, int)
        assert image.dtype == torch.float32 and tuple(image.shape) == (3, 24, 24)
    with pytest.raises(IndexError):
        ds[2]


def test_dataset_without_transform_gives_float_in_unit_range(tmp_path: Path, img) -> None:
    make_folder(tmp_path, img)
    image, _ = ImageDataset(["b.png"], root=tmp_path, transform=None)[0]
    assert tuple(image.shape) == (3, 8, 8)
    assert torch.allclose(image, torch.full_like(image, 7 / 255))


def test_bad_image_raises_by_default(tmp_path: Path, img) -> None:
    paths = make_folder(tmp_path, img)
    ds = ImageDataset(paths, root=tmp_path, transform=None)
    for i in (2, 3):
        with pytest.raises(PartialMLError, match=paths[i]):
            ds[i]
    assert ds.bad_images == [] and not ds.bad_mask.any()


def test_skip_returns_zeros_of_the_transform_size_and_reports(tmp_path: Path, img) -> None:
    paths = make_folder(tmp_path, img)
    t = build_transforms("ll", image_size=16, train=True)
    ds = ImageDataset(paths, root=tmp_path, transform=t, on_bad_image="skip")
    state = torch.get_rng_state()
    items = [ds[i] for i in range(4)]
    assert [i for _, i in items] == [0, 1, 2, 3]
    for image, i in items:
        assert tuple(image.shape) == (3, 16, 16) and image.dtype == torch.float32
        assert (image == 0).all() == (i >= 2)
    assert ds.bad_mask.tolist() == [False, False, True, True]
    assert ds.is_bad(torch.tensor([3, 0])).tolist() == [True, False]
    bad = ds.bad_images
    assert [(b.sample_index, b.path) for b in bad] == [(2, "c.jpg"), (3, "gone.jpg")]
    assert "truncated" in bad[0].reason and "not found" in bad[1].reason
    # the probe of the placeholder did not consume the global RNG: the same draws as without it
    torch.set_rng_state(state)
    fresh = ImageDataset(paths[:2], root=tmp_path, transform=t)
    assert all(torch.equal(fresh[i][0], items[i][0]) for i in range(2))


def test_skip_flags_set_in_dataloader_workers_reach_the_main_process(tmp_path: Path, img) -> None:
    paths = make_folder(tmp_path, img)
    ds = ImageDataset(paths, root=tmp_path, transform=build_transforms("plain", image_size=8, train=False),
                      on_bad_image="skip")  # fmt: skip
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1)
    seen = []
    for images, index in loader:
        assert tuple(images.shape[1:]) == (3, 8, 8)
        seen += ds.is_bad(index).tolist()
    assert seen == [False, False, True, True]
    assert [b.sample_index for b in ds.bad_images] == [2, 3]
    assert [b.reason for b in ds.bad_images] == ["unreadable", "missing"]  # reasons stayed in the worker


def test_scan_and_find_bad_images(tmp_path: Path, img) -> None:
    paths = make_folder(tmp_path, img)
    found = find_bad_images(paths, root=tmp_path, num_threads=2)
    assert [(b.sample_index, b.path) for b in found] == [(2, "c.jpg"), (3, "gone.jpg")]
    assert find_bad_images(paths, root=tmp_path, num_threads=1) == found
    ds = ImageDataset(paths, root=tmp_path, transform=None, on_bad_image="skip")
    assert ds.scan(num_threads=2) == found
    absolute = [str(tmp_path / p) for p in paths]
    assert [b.sample_index for b in find_bad_images(absolute)] == [2, 3]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(PartialMLError, match="on_bad_image"):
        ImageDataset(["a.jpg"], root=tmp_path, transform=None, on_bad_image="ignore")  # type: ignore[arg-type]
    with pytest.raises(PartialMLError, match="single path"):
        ImageDataset("a.jpg", root=tmp_path, transform=None)
    with pytest.raises(PartialMLError, match="uint8"):
        ArrayImageDataset(np.zeros((2, 4, 4), np.float32))


def test_array_dataset_gray_and_rgb() -> None:
    gray = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    ds = ArrayImageDataset(gray, transform=None)
    image, i = ds[1]
    assert i == 1 and tuple(image.shape) == (3, 4, 5)
    assert torch.equal(image[2], torch.from_numpy(gray[1]).float() / 255)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    image, _ = ArrayImageDataset(rgb, transform=None)[2]
    assert torch.equal(image, torch.from_numpy(rgb[2]).permute(2, 0, 1).float() / 255)
    assert len(ArrayImageDataset(rgb)) == 3 and ArrayImageDataset(rgb).bad_images == []
