"""Transform presets: sizes, normalization, flip, cutout (against Pillow's ImageDraw), resize (against Pillow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from partialml.data.transforms import IMAGENET_MEAN, IMAGENET_STD, RandomCutout, build_transforms
from partialml.errors import PartialMLError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("preset", ["ll", "robust-loss", "plain"])
@pytest.mark.parametrize("train", [True, False])
def test_every_preset_gives_float_square_images(preset: str, train: bool) -> None:
    t = build_transforms(preset, image_size=20, train=train)  # type: ignore[arg-type]
    out = t(torch.randint(0, 256, (3, 37, 50), dtype=torch.uint8))
    assert out.dtype == torch.float32 and tuple(out.shape) == (3, 20, 20)


def test_ll_and_plain_normalize_with_imagenet_statistics() -> None:
    value = 100
    image = torch.full((3, 10, 12), value, dtype=torch.uint8)
    expected = torch.tensor([(value / 255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)])
    for preset in ("ll", "plain"):
        out = build_transforms(preset, image_size=6, train=False)(image)  # type: ignore[arg-type]
        assert torch.allclose(out, expected.view(3, 1, 1).expand(3, 6, 6), atol=1e-6)


def test_robust_loss_does_not_normalize_unless_asked() -> None:
    image = torch.full((3, 10, 12), 51, dtype=torch.uint8)
    out = build_transforms("robust-loss", image_size=6, train=False)(image)
    assert torch.allclose(out, torch.full((3, 6, 6), 0.2), atol=1e-6)
    out = build_transforms("robust-loss", image_size=6, train=False, normalize=True)(image)
    assert torch.allclose(out[0], torch.full((6, 6), (0.2 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]), atol=1e-5)


def test_ll_train_flips_half_the_time_and_eval_never() -> None:
    image = torch.zeros(3, 8, 8, dtype=torch.uint8)
    image[:, :, :4] = 200  # bright left half
    torch.manual_seed(0)
    train = build_transforms("ll", image_size=8, train=True)
    flips = 0
    for _ in range(200):
        out = train(image)
        flips += int(out[0, 0, 0] < out[0, 0, 7])
    assert 60 < flips < 140
    evaluation = build_transforms("ll", image_size=8, train=False)
    assert all(evaluation(image)[0, 0, 0] > evaluation(image)[0, 0, 7] for _ in range(20))
    plain = build_transforms("plain", image_size=8, train=True)
    assert all(plain(image)[0, 0, 0] > plain(image)[0, 0, 7] for _ in range(20))


def test_resize_is_close_to_pillow_bilinear() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
    array = np.array(Image.fromarray(small).resize((100, 75), Image.Resampling.BICUBIC))  # smooth 75 x 100
    ref = np.asarray(Image.fromarray(array).resize((48, 48), Image.Resampling.BILINEAR)).astype(np.float64)
    out = build_transforms("robust-loss", image_size=48, train=False)(
        torch.from_numpy(array).permute(2, 0, 1)
    )
    assert np.abs(out.permute(1, 2, 0).numpy() * 255 - ref).mean() < 1.5


def reference_cutout_pil(array: np.ndarray, yc: int, xc: int, colour: tuple[int, int, int]) -> np.ndarray:
    """ASL's CutoutPIL with its random draws given (square image, where its axis naming does not matter)."""
    image = Image.fromarray(array.copy())
    h, w = image.size[1], image.size[0]
    h_cut, w_cut = int(0.5 * h + 0.5), int(0.5 * w + 0.5)
    y1, y2 = np.clip(yc - h_cut // 2, 0, h), np.clip(yc + h_cut // 2, 0, h)
    x1, x2 = np.clip(xc - w_cut // 2, 0, w), np.clip(xc + w_cut // 2, 0, w)
    ImageDraw.Draw(image).rectangle([int(x1), int(y1), int(x2), int(y2)], fill=colour)
    return np.asarray(image)


@pytest.mark.parametrize("seed", range(6))
def test_cutout_matches_pillow_imagedraw_reference(seed: int) -> None:
    side = 15
    array = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    torch.manual_seed(seed)
    out = RandomCutout(factor=0.5)(torch.from_numpy(array).permute(2, 0, 1))
    torch.manual_seed(seed)  # replay the draws: row centre, column centre, colour
    yc, xc = int(torch.randint(side, ())), int(torch.randint(side, ()))
    colour = tuple(int(v) for v in torch.randint(0, 256, (3,)))
    expected = reference_cutout_pil(array, yc, xc, colour)  # type: ignore[arg-type]
    assert np.array_equal(out.permute(1, 2, 0).numpy(), expected)
    changed = (out.permute(1, 2, 0).numpy() != array).any(-1)
    assert changed.sum() <= 9 * 9  # side int(7.5 + 0.5) = 8, half 4: at most 9 x 9 pixels (inclusive ends)


def test_cutout_on_float_images_uses_unit_scale() -> None:
    torch.manual_seed(1)
    out = RandomCutout()(torch.zeros(3, 10, 10))
    assert out.max() <= 1.0 and (out > 0).any()


def test_bad_preset_and_size() -> None:
    with pytest.raises(PartialMLError, match="preset"):
        build_transforms("cole", image_size=8, train=True)  # type: ignore[arg-type]
    with pytest.raises(PartialMLError, match="image_size"):
        build_transforms("ll", image_size=0, train=True)
    with pytest.raises(PartialMLError, match="factor"):
        RandomCutout(factor=2.0)
