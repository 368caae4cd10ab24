"""Images for end-to-end training: decoding, the image dataset, and the bad-image scan.

* :func:`decode_image_file` reads one JPEG or PNG file into a ``uint8`` tensor ``(3, H, W)`` with
  ``torchvision.io`` (EXIF orientation applied, grayscale / palette / RGBA converted to RGB, 16-bit PNG scaled
  to 8 bits). Files that ``torchvision.io`` cannot decode but Pillow can (BMP, TIFF, ...) are read with
  Pillow (``ImageOps.exif_transpose`` then ``convert("RGB")``). A missing, empty, truncated or otherwise
  unreadable file raises :class:`~partialml.errors.PartialMLError` naming the file.
* :class:`ImageDataset` returns ``(image, index)`` pairs (labels live in the ``LabelStore``, not here: see
  DESIGN.md). ``on_bad_image="raise"`` (default) lets a bad file's error through; ``"skip"`` returns a zero
  image of the transform's output size instead and records the sample as bad.
* :class:`ArrayImageDataset` is the same interface over an in-memory or memory-mapped ``uint8`` array (the
  ``.npy`` output of :mod:`partialml.data.mosaics`).
* :func:`find_bad_images` decodes a list of files in parallel threads and reports the bad ones (the
  ``partialml verify-data`` command).

How the trainer excludes skipped images: a skipped sample is flagged in :attr:`ImageDataset.bad_mask`, a
``(N,)`` bool view of a tensor in shared memory, so that flags set inside DataLoader worker processes are seen
by the main process. The flag is written before the worker returns the sample, so after receiving a batch
``(images, index)`` the trainer drops the rows with ``dataset.is_bad(index)`` from the loss and the metrics.
:attr:`ImageDataset.bad_images` lists ``(index, path, reason)`` for every flagged sample (the full reason when
the sample was found in this process, else ``"missing"`` or ``"unreadable"``). To exclude bad images before
training instead, call :meth:`ImageDataset.scan` once (it decodes every image).

Example:
    >>> import tempfile, os
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as root:
    ...     Image.new("L", (5, 4), 128).save(os.path.join(root, "a.png"))
    ...     ds = ImageDataset(["a.png", "b.png"], root=root, transform=None, on_bad_image="skip")
    ...     image, i = ds[0]
    ...     _ = ds[1]  # missing: zeros, flagged
    >>> tuple(image.shape), i, ds.bad_images[0][:2]
    ((3, 4, 5), 0, (1, 'b.png'))
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import torch

from partialml.errors import PartialMLError

__all__ = [
    "ArrayImageDataset",
    "BadImage",
    "ImageDataset",
    "OnBadImage",
    "check_image_files",
    "decode_image_file",
    "find_bad_images",
    "resolve_image_files",
]

OnBadImage = Literal["raise", "skip"]
_ON_BAD: Final = ("raise", "skip")
# codes kept in the shared flag tensor: 0 fine, 1 missing, 2 unreadable
_MISSING: Final = 1
_UNREADABLE: Final = 2
_CODE_NAMES: Final = {_MISSING: "missing", _UNREADABLE: "unreadable"}
_TORCH_PREFIX = re.compile(
    r"^[^,]*, \S+\.(?:cpp|cc|h|cu):\d+, "
)  # "decode_jpeg, /path/decode_jpeg.cpp:171, " in torchvision errors
_PROBE_SIDE: Final = 32


class BadImage(NamedTuple):
    """One unreadable or missing image: ``(sample_index, path, reason)``: its index in the dataset, its
    ``path`` as listed, and the ``reason`` (one line)."""

    sample_index: int
    path: str
    reason: str


class _ImageFileError(PartialMLError):
    """A :class:`PartialMLError` about one image file, with the kind of problem (``missing`` / ``unreadable``)."""

    def __init__(self, message: str, *, path: str | Path, code: int) -> None:
        super().__init__(message, path=path)
        self.code = code
        self.reason = message


def _clean(err: BaseException) -> str:
    """One short line from a decoder's error (torchvision's C++ source location dropped)."""
    text = " ".join((str(err) or type(err).__name__).split())
    return _TORCH_PREFIX.sub("", text)


def _decode_with_pil(data: bytes) -> torch.Tensor:
    """Pillow fallback: EXIF transpose, RGB, ``(3, H, W)`` uint8. Raises whatever Pillow raises."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def decode_image_file(path: str | Path) -> torch.Tensor:
    """Decode an image file into an RGB ``uint8`` tensor of shape ``(3, H, W)``.

    Decoding uses ``torchvision.io.decode_image(..., mode=RGB, apply_exif_orientation=True)`` (libjpeg-turbo,
    libpng): the EXIF orientation tag of a JPEG is applied (so ``H, W`` are those of the image as displayed),
    grayscale and palette images are expanded to three equal channels, an alpha channel is dropped (not
    composited, as Pillow's ``convert("RGB")`` in the Cole/LL loaders), 16-bit PNGs are scaled to 8 bits, and
    an animated image gives its first frame. When torchvision cannot decode the bytes, Pillow is tried (other
    formats: BMP, TIFF, ...); a truncated JPEG is an error for both (Pillow's ``LOAD_TRUNCATED_IMAGES`` is not
    touched).

    Args:
        path: the image file.

    Returns:
        ``uint8`` tensor ``(3, H, W)``, values ``0..255``, on the CPU.

    Raises:
        PartialMLError: naming the file: not found, not a file, empty, or not a decodable image (with the
            decoder's reason, e.g. ``Image is incomplete or truncated``).
    """
    from torchvision.io import ImageReadMode, decode_image

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise _ImageFileError("image file not found", path=p, code=_MISSING) from None
    except IsADirectoryError:
        raise _ImageFileError("is a directory; expected an image file", path=p, code=_UNREADABLE) from None
    except OSError as err:
        raise _ImageFileError(f"cannot read image file ({_clean(err)})", path=p, code=_UNREADABLE) from None
    if not data:
        raise _ImageFileError("image file is empty; expected a JPEG or PNG image", path=p, code=_UNREADABLE)
    try:
        image = decode_image(
            torch.frombuffer(bytearray(data), dtype=torch.uint8),
            mode=ImageReadMode.RGB,
            apply_exif_orientation=True,
        )
    except (RuntimeError, ValueError) as err:
        try:
            image = _decode_with_pil(data)
        except Exception:  # Pillow's errors are many (OSError, SyntaxError, DecompressionBombError, ...)
            raise _ImageFileError(
                f"cannot decode image ({_clean(err)}); expected a readable JPEG or PNG image",
                path=p,
                code=_UNREADABLE,
            ) from None
    if image.ndim == 4:  # animated GIF / WebP: (T, C, H, W)
        image = image[0]
    if image.dtype != torch.uint8:  # 16-bit PNG
        from torchvision.transforms.v2 import functional as TF

        image = TF.to_dtype(image, torch.uint8, scale=True)
    if image.ndim != 3 or image.shape[0] != 3 or image.shape[1] == 0 or image.shape[2] == 0:
        raise _ImageFileError(
            f"decoded to shape {tuple(image.shape)}; expected a (3, H, W) RGB image", path=p, code=_UNREADABLE
        )
    return image


def resolve_image_files(paths: Sequence[str], root: str | Path | None) -> list[str]:
    """The files of ``paths``: ``root / path`` when ``root`` is given (an absolute ``path`` stays as is),
    else ``path``. Strings, so that a dataset of millions of images stays small when pickled to workers."""
    if root is None:
        return [str(p) for p in paths]
    base = Path(root)
    return [str(base / p) for p in paths]


def _check_one(file: str) -> tuple[int, str] | None:
    try:
        decode_image_file(file)
    except _ImageFileError as err:
        return err.code, err.reason
    return None


def _stat_one(file: str) -> tuple[int, str] | None:
    """The problem :func:`os.stat` alone finds (missing, not a regular file, empty), or ``None``."""
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return _MISSING, "image file not found"
    except OSError as err:
        return _UNREADABLE, f"cannot read image file ({_clean(err)})"
    if not stat.S_ISREG(st.st_mode):
        return _UNREADABLE, "is a directory or a special file; expected an image file"
    if st.st_size == 0:
        return _UNREADABLE, "image file is empty; expected a JPEG or PNG image"
    return None


def _scan(
    files: Sequence[str],
    num_threads: int | None,
    check: Callable[[str], tuple[int, str] | None] = _check_one,
) -> list[tuple[int, int, str]]:
    """``(index, code, reason)`` of each bad file, checking (by default decoding) in ``num_threads``
    threads (torchvision's and Pillow's decoders, and ``os.stat``, release the GIL)."""
    threads = num_threads if num_threads is not None else min(8, os.cpu_count() or 1)
    if threads < 1:
        raise PartialMLError(f"num_threads={threads}; expected at least 1")
    if threads == 1 or len(files) <= 1:
        results = [check(f) for f in files]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(check, files, chunksize=16))
    return [(i, r[0], r[1]) for i, r in enumerate(results) if r is not None]


def check_image_files(
    paths: Sequence[str],
    *,
    root: str | Path | None = None,
    decode: bool = False,
    num_threads: int | None = None,
    listed_in: str | None = None,
) -> None:
    """Raise one line naming the first bad image of ``paths``; return ``None`` when every image is fine.

    The trainer calls it before it writes anything (``--on-bad-image raise``), so that a bad image is an
    input error (exit status 2) that leaves an earlier run untouched (docs/reliability.md).

    Args:
        paths: image paths (relative to ``root`` when given).
        root: the image root folder.
        decode: ``False``: ``os.stat`` only (missing, not a file, empty: fast, no image is read);
            ``True``: decode every image (:func:`decode_image_file`), which also finds corrupt files.
        num_threads: checking threads; default ``min(8, os.cpu_count())``.
        listed_in: the label file that lists ``paths``, named in the message.

    Raises:
        PartialMLError: ``"<file>: <reason> (<k> of <n> images listed in <label file> are missing or
            unreadable; ...)"``.
    """
    files = resolve_image_files(paths, root)
    bad = _scan(files, num_threads, _check_one if decode else _stat_one)
    if not bad:
        return
    index, _, reason = bad[0]
    where = f" listed in {listed_in}" if listed_in else ""
    raise PartialMLError(
        f"{reason} ({len(bad)} of {len(files)} images{where} are missing or unreadable; "
        "partialml verify-data lists them; --on-bad-image skip trains without them)",
        path=files[index],
    )


def find_bad_images(
    paths: Sequence[str], *, root: str | Path | None = None, num_threads: int | None = None
) -> list[BadImage]:
    """Decode every image and list the missing or unreadable ones.

    Args:
        paths: image paths (relative to ``root`` when given).
        root: the image root folder.
        num_threads: decoding threads; default ``min(8, os.cpu_count())``.

    Returns:
        :class:`BadImage` ``(index, path, reason)`` for each bad image, in list order; ``path`` as given in
        ``paths``, ``reason`` one line (``"image file not found"``, ``"cannot decode image (...)"``, ...).
    """
    files = resolve_image_files(paths, root)
    return [BadImage(i, str(paths[i]), reason) for i, _, reason in _scan(files, num_threads)]


def _to_float(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` ``(3, H, W)`` -> ``float32`` in ``[0, 1]`` (the output when no transform is given)."""
    return image.to(torch.float32).div_(255.0)


class _FlaggedDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Shared parts: the transform, the placeholder image of a skipped sample, the shared bad-sample flags."""

    def __init__(self, n: int, transform: Callable[[torch.Tensor], Any] | None) -> None:
        self.transform = transform
        # int8 codes in shared memory: written in DataLoader workers, read by the trainer's process
        self._codes = torch.zeros(n, dtype=torch.int8).share_memory_()
        self._reasons: dict[int, str] = {}
        self._placeholder: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self._codes.shape[0])

    def _apply(self, image: torch.Tensor) -> torch.Tensor:
        out = self.transform(image) if self.transform is not None else _to_float(image)
        return out

    def placeholder(self) -> torch.Tensor:
        """The zeros that stand for a skipped image: the shape and dtype of the transform's output on a
        ``(3, 32, 32)`` uint8 probe (computed once, without consuming the global RNG); ``(3, 1, 1)`` float32
        without a transform (each image then keeps its own size)."""
        if self._placeholder is None:
            if self.transform is None:
                self._placeholder = torch.zeros(3, 1, 1)
            else:
                with torch.random.fork_rng(devices=[]):
                    probe = self.transform(torch.zeros(3, _PROBE_SIDE, _PROBE_SIDE, dtype=torch.uint8))
                self._placeholder = torch.zeros_like(probe)
        return self._placeholder.clone()

    @property
    def bad_mask(self) -> torch.Tensor:
        """``(N,)`` bool: samples found bad so far (in this process or in any DataLoader worker)."""
        return self._codes != 0

    def is_bad(self, index: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Bool flags of the samples ``index`` (a batch's index tensor): ``True`` for a skipped image."""
        idx = torch.as_tensor(index, dtype=torch.long).cpu()
        return self._codes[idx] != 0

    def _mark(self, index: int, code: int, reason: str) -> None:
        self._codes[index] = code
        self._reasons[index] = reason

    def _path_of(self, index: int) -> str:
        raise NotImplementedError

    @property
    def bad_images(self) -> list[BadImage]:
        """``(index, path, reason)`` of every sample flagged so far, by index."""
        flagged = torch.nonzero(self._codes, as_tuple=False).flatten().tolist()
        return [
            BadImage(
                i, self._path_of(i), self._reasons.get(i, _CODE_NAMES.get(int(self._codes[i]), "unreadable"))
            )
            for i in flagged
        ]


class ImageDataset(_FlaggedDataset):
    """Images listed by path; ``ds[i]`` is ``(transform(decode_image_file(root / paths[i])), i)``.

    Args:
        paths: ``N`` image paths, relative to ``root`` (an :class:`~partialml.data.image_labels.ImageLabelSet`'s
            ``paths``); absolute paths are used as they are.
        root: the image root folder; ``None``: ``paths`` are used as given.
        transform: a callable on the decoded ``uint8`` ``(3, H, W)`` tensor, returning the float image
            ``(3, H', W')`` (e.g. :func:`partialml.data.transforms.build_transforms`); ``None``: the decoded
            image as ``float32`` in ``[0, 1]``.
        on_bad_image: ``"raise"`` (default): a missing or unreadable image raises
            :class:`~partialml.errors.PartialMLError` naming the file; ``"skip"``: it returns
            ``(zeros, i)`` (the zeros of :meth:`placeholder`) and flags sample ``i`` in :attr:`bad_mask` and
            :attr:`bad_images`; the trainer leaves flagged samples out (see the module docstring).

    Returns per item:
        ``(image, i)``: ``image`` the transform's output (``float32 (3, H', W')`` with the presets), ``i`` the
        sample index (an ``int``), through which the trainer reads the labels.
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        root: str | Path | None = None,
        transform: Callable[[torch.Tensor], Any] | None = None,
        on_bad_image: OnBadImage = "raise",
    ) -> None:
        if on_bad_image not in _ON_BAD:
            raise PartialMLError(f"on_bad_image={on_bad_image!r}; expected 'raise' or 'skip'")
        if isinstance(paths, str | Path):
            raise PartialMLError("paths is a single path; expected a sequence of image paths")
        self.paths = [str(p) for p in paths]
        self.root = None if root is None else str(root)
        self.on_bad_image: OnBadImage = on_bad_image
        self.files = resolve_image_files(self.paths, root)
        super().__init__(len(self.paths), transform)

    def _path_of(self, index: int) -> str:
        return self.paths[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        try:
            image = decode_image_file(self.files[i])
        except _ImageFileError as err:
            if self.on_bad_image == "raise":
                raise
            self._mark(i, err.code, err.reason)
            return self.placeholder(), i
        return self._apply(image), i

    def scan(self, *, num_threads: int | None = None) -> list[BadImage]:
        """Decode every image now (``num_threads`` threads), flag the bad ones and return
        :attr:`bad_images`, so that the trainer can leave them out of its sampler before the first epoch."""
        for i, code, reason in _scan(self.files, num_threads):
            self._mark(i, code, reason)
        return self.bad_images


class ArrayImageDataset(_FlaggedDataset):
    """Images held in one ``uint8`` array (e.g. ``np.load(..., mmap_mode="r")`` of a mosaics ``.npy``).

    Args:
        images: ``(N, H, W)`` grayscale (replicated to three channels), ``(N, H, W, 3)`` or ``(N, 3, H, W)``
            RGB, ``uint8``.
        transform: as :class:`ImageDataset` (applied to the ``uint8`` ``(3, H, W)`` tensor).

    ``ds[i]`` is ``(image, i)`` as for :class:`ImageDataset`; :attr:`bad_mask` and :attr:`bad_images` exist for
    the same interface and stay empty.
    """

    def __init__(
        self, images: np.ndarray | torch.Tensor, *, transform: Callable[[torch.Tensor], Any] | None = None
    ) -> None:
        shape = tuple(images.shape)
        dtype_ok = images.dtype in (np.uint8, torch.uint8)
        layout_ok = len(shape) == 3 or (len(shape) == 4 and (shape[1] == 3 or shape[3] == 3))
        if not dtype_ok or not layout_ok:
            raise PartialMLError(
                f"images have shape {shape} and dtype {images.dtype}; expected uint8 (N, H, W), "
                "(N, H, W, 3) or (N, 3, H, W)"
            )
        self.images = images
        super().__init__(shape[0], transform)

    def _path_of(self, index: int) -> str:
        return f"[{index}]"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        item = self.images[i]
        image = (
            item.clone() if isinstance(item, torch.Tensor) else torch.from_numpy(np.array(item, copy=True))
        )
        if image.ndim == 2:
            image = image.unsqueeze(0).expand(3, -1, -1).contiguous()
        elif image.shape[0] != 3:
            image = image.permute(2, 0, 1).contiguous()
        return self._apply(image), i
