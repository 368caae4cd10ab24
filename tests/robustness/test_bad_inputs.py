"""A catalogue of bad inputs: every reader and every CLI command answers exit status 2, ONE line on stderr
naming the file or option and what was expected, and leaves an earlier run byte-identical."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from partialml.errors import PartialMLError

from .conftest import run_cli, tree_hashes, write_npy_dir

XML = '<?xml version="1.0"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">{}</labels>\n'
ARFF_HEAD = "@relation toy\n@attribute f0 numeric\n@attribute f1 numeric\n@attribute a {0,1}\n@attribute b {0,1}\n@data\n"
ARFF_ROWS = "0.1,0.2,1,0\n0.3,0.4,0,1\n0.5,0.6,1,1\n"


def mulan(
    tmp: Path, arff: str, labels: str = '<label name="a"/><label name="b"/>', *, xml: bool = True
) -> Path:
    d = tmp / "toy"
    d.mkdir()
    if xml:
        (d / "toy.xml").write_text(XML.format(labels))
    (d / "toy.arff").write_text(arff)
    return d


def npz(tmp: Path, **arrays: Any) -> Path:
    p = tmp / "toy.npz"
    base: dict[str, Any] = {"X": np.ones((4, 3), np.float32), "Y": np.array([[1, 0], [0, 1], [1, 1], [0, 0]])}
    base.update(arrays)
    np.savez(p, **{k: v for k, v in base.items() if v is not None})
    return p


def csv(tmp: Path, text: str) -> Path:
    p = tmp / "toy.csv"
    p.write_text(text)
    return p


def npy_variant(tmp: Path, edit: Callable[[Path], None]) -> Path:
    d = write_npy_dir(tmp / "npy", n=12, n_test=6)
    edit(d)
    return d


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _save(name: str, arr: Any) -> Callable[[Path], None]:
    return lambda d: np.save(d / name, np.asarray(arr))


def _nan_memmap(d: Path) -> None:
    x = np.load(d / "train_features.npy")
    x[3, 2] = np.inf
    np.save(d / "train_features.npy", x)


# (id, build(tmp) -> data path, expected fragments of the message)
DATA_CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("arff-truncated-row", lambda t: mulan(t, ARFF_HEAD + "0.1,0.2,1,0\n0.3,0.4"), ("toy.arff",)),
    ("arff-bad-header", lambda t: mulan(t, ARFF_HEAD.replace("@data", "@dat") + ARFF_ROWS), ("toy.arff",)),
    ("arff-empty-file", lambda t: mulan(t, ""), ("toy.arff",)),
    ("arff-no-data-rows", lambda t: mulan(t, ARFF_HEAD), ("toy.arff",)),
    ("arff-label-missing", lambda t: mulan(t, ARFF_HEAD + ARFF_ROWS, '<label name="a"/><label name="zz"/>'), ("zz",)),
    ("arff-feature-nan", lambda t: mulan(t, ARFF_HEAD + "nan,0.2,1,0\n0.3,0.4,0,1\n"), ("toy",)),
    ("arff-feature-text", lambda t: mulan(t, ARFF_HEAD + "abc,0.2,1,0\n"), ("toy.arff",)),
    ("xml-truncated", lambda t: mulan(t, ARFF_HEAD + ARFF_ROWS, '<label name="a"/><label name='), ("toy.xml",)),
    ("xml-no-labels", lambda t: mulan(t, ARFF_HEAD + ARFF_ROWS, ""), ("toy.xml",)),
    ("mulan-folder-without-xml", lambda t: mulan(t, ARFF_HEAD + ARFF_ROWS, xml=False), ("toy", "xml")),
    ("npz-truncated", lambda t: (lambda p: (_truncate(p), p)[1])(npz(t)), ("toy.npz",)),
    ("npz-not-an-archive", lambda t: (lambda p: (p.write_bytes(b"PK\x03\x04garbage"), p)[1])(t / "x.npz"), ("x.npz",)),
    ("npz-unknown-key", lambda t: npz(t, Z=np.zeros(3)), ("toy.npz", "Z")),
    ("npz-label-2", lambda t: npz(t, Y=np.array([[1, 0], [0, 2], [1, 1], [0, 0]])), ("toy.npz",)),
    ("npz-row-mismatch", lambda t: npz(t, Y=np.array([[1, 0], [0, 1], [1, 1]])), ("toy.npz", "rows")),
    ("npz-nan-feature", lambda t: npz(t, X=np.array([[1, 2, np.nan]] * 4, np.float32)), ("toy.npz", "finite")),
    ("npz-inf-feature", lambda t: npz(t, X=np.array([[1, 2, np.inf]] * 4, np.float32)), ("toy.npz", "finite")),
    ("npz-empty", lambda t: npz(t, X=np.zeros((0, 3), np.float32), Y=np.zeros((0, 2))), ("toy.npz",)),
    ("npz-duplicate-ids", lambda t: npz(t, ids=np.array(["a", "b", "a", "c"])), ("toy.npz", "'a'")),
    ("csv-short-row", lambda t: csv(t, "f0,f1,label:a\n1,2,1\n3,1\n"), ("toy.csv",)),
    ("csv-label-7", lambda t: csv(t, "f0,f1,label:a\n1,2,1\n3,4,7\n"), ("toy.csv",)),
    ("csv-feature-text", lambda t: csv(t, "f0,f1,label:a\n1,x,1\n3,4,0\n"), ("toy.csv",)),
    ("csv-feature-inf", lambda t: csv(t, "f0,f1,label:a\n1,inf,1\n3,4,0\n"), ("toy.csv",)),
    ("csv-header-only", lambda t: csv(t, "f0,f1,label:a\n"), ("toy.csv",)),
    ("csv-no-label-column", lambda t: csv(t, "f0,f1\n1,2\n"), ("toy.csv",)),
    ("csv-duplicate-ids", lambda t: csv(t, "id,f0,label:a\nx,1,1\nx,2,0\n"), ("toy.csv", "'x'")),
    ("csv-empty-file", lambda t: csv(t, ""), ("toy.csv",)),
    ("npy-truncated", lambda t: npy_variant(t, lambda d: _truncate(d / "train_features.npy")), ("train_features.npy",)),
    ("npy-not-npy", lambda t: npy_variant(t, lambda d: (d / "train_labels.npy").write_bytes(b"hello")), ("train_labels.npy",)),
    ("npy-label-5", lambda t: npy_variant(t, _save("train_labels.npy", np.full((12, 4), 5, np.int8))), ("npy",)),
    ("npy-row-mismatch", lambda t: npy_variant(t, _save("train_labels.npy", np.ones((11, 4), np.int8))), ("npy", "rows")),
    ("npy-test-class-count", lambda t: npy_variant(t, _save("test_labels.npy", np.ones((6, 3), np.int8))), ("npy",)),
    ("npy-class-names-count", lambda t: npy_variant(t, lambda d: (d / "class_names.txt").write_text("a\nb\nc\n")), ("class_names.txt",)),
    ("npy-duplicate-ids", lambda t: npy_variant(t, lambda d: (d / "train_ids.txt").write_text("s\n" * 12)), ("train_ids.txt",)),
    ("npy-inf-feature", lambda t: npy_variant(t, _nan_memmap), ("npy", "finite")),
    ("npy-features-1d", lambda t: npy_variant(t, _save("train_features.npy", np.ones(12, np.float32))), ("train_features.npy",)),
    ("not-a-known-format", lambda t: (lambda p: (p.write_text("x"), p)[1])(t / "data.parquet"), ("data.parquet",)),
    ("missing-path", lambda t: t / "nope", ("nope",)),
]  # fmt: skip


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (1 epoch) that every case must leave byte-identical."""
    root = tmp_path_factory.mktemp("earlier")
    data = write_npy_dir(root / "data", n=40, n_test=10)
    run = root / "run"
    argv = [
        "train",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--output-dir",
        str(run),
    ]
    assert run_cli(argv) == 0
    return run


def _check(argv: list[str], run: Path, capsys: Any, expected: tuple[str, ...], status: int = 2) -> str:
    capsys.readouterr()
    before = tree_hashes(run)
    assert run_cli(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("partialml: error: "), err
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])
    assert tree_hashes(run) == before
    return lines[0]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_bad_data_for_train_overwrite_keeps_the_earlier_run(
    build: Callable[[Path], Path], expected: tuple[str, ...], earlier_run: Path, tmp_path: Path, capsys: Any
) -> None:
    data = build(tmp_path)
    argv = ["train", "--data", str(data), "--device", "cpu", "--output-dir", str(earlier_run), "--overwrite"]
    _check(argv, earlier_run, capsys, expected)


def _foreign_checkpoint(tmp: Path, run: Path, kind: str) -> Path:
    copy = tmp / "copy"
    shutil.copytree(run, copy)
    target = copy / "checkpoints" / "best.pt"
    if kind == "junk":
        target.write_bytes(b"\x00not a checkpoint" * 10)
    elif kind == "torch-dict":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, target)
    elif kind == "pickle":
        import pickle

        target.write_bytes(pickle.dumps(io.BytesIO(b"x")))
    elif kind == "gzip":
        target.write_bytes(gzip.compress(b"abc"))
    return copy


# (id, argv builder(tmp, run, data), expected fragments)
FLAG_CASES: list[tuple[str, Callable[[Path, Path, Path], list[str]], tuple[str, ...]]] = [
    ("unknown-loss", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--loss", "nope"], ("'nope'", "valid losses")),
    ("unknown-loss-arg", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--loss", "ll-r", "--loss-arg", "zeta=1"], ("--loss-arg", "zeta")),
    ("malformed-loss-arg", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--loss-arg", "delta_rel"], ("--loss-arg", "key=value")),
    ("negative-lr", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--lr", "-0.1"], ("--lr", "positive")),
    ("nan-lr", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--lr", "nan"], ("--lr",)),
    ("epochs-0", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--epochs", "0"], ("--epochs", ">= 1")),
    ("epochs-text", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--epochs", "two"], ("--epochs",)),
    ("batch-size-0", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--batch-size", "0"], ("--batch-size",)),
    ("val-fraction-1.5", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--val-fraction", "1.5"], ("--val-fraction",)),
    ("partial-fraction-2", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--partial", "fraction:2"], ("fraction",)),
    ("partial-bogus", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--partial", "bogus"], ("bogus",)),
    ("partial-given-without-labels", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--partial", "given"], ("--partial given",)),
    ("nan-budget-negative", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--nan-budget", "-1"], ("--nan-budget",)),
    ("nan-policy-bogus", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--nan-policy", "maybe"], ("--nan-policy", "skip")),
    ("format-bogus", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--format", "xls"], ("--format", "npy")),
    ("unknown-flag", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--bogus", "1"], ("--bogus",)),
    ("output-dir-holds-a-run", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r)], ("--output-dir", "--overwrite")),
    ("overwrite-and-resume", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r), "--overwrite", "--resume"], ("--overwrite", "--resume")),
    ("resume-changed-seed", lambda t, r, d: ["train", "--output-dir", str(r), "--resume", "--seed", "9"], ("--seed",)),
    ("resume-without-run", lambda t, r, d: ["train", "--output-dir", str(t / "empty"), "--resume"], ("last.pt",)),
    ("output-dir-is-a-file", lambda t, r, d: ["train", "--data", str(d), "--output-dir", str(r / "config.yaml")], ("config.yaml", "not a directory")),
    ("config-bad-yaml", lambda t, r, d: (lambda p: (p.write_text("a: [1,\n"), ["train", "--config", str(p), "--output-dir", str(r)])[1])(t / "c.yaml"), ("c.yaml", "YAML")),
    ("config-unknown-key", lambda t, r, d: (lambda p: (p.write_text("learning_rate: 1\n"), ["train", "--config", str(p), "--data", str(d), "--output-dir", str(r), "--overwrite"])[1])(t / "c.yaml"), ("c.yaml", "learning_rate")),
    ("config-missing", lambda t, r, d: ["train", "--config", str(t / "none.yaml"), "--output-dir", str(r)], ("none.yaml",)),
    ("train-without-data", lambda t, r, d: ["train", "--output-dir", str(t / "x")], ("--data",)),
    ("evaluate-not-a-run", lambda t, r, d: ["evaluate", "--run", str(t / "good")], ("good",)),
    ("evaluate-bad-checkpoint-name", lambda t, r, d: ["evaluate", "--run", str(r), "--checkpoint", "middle"], ("--checkpoint", "best or last")),
    ("evaluate-junk-checkpoint", lambda t, r, d: ["evaluate", "--run", str(_foreign_checkpoint(t, r, "junk"))], ("best.pt", "checkpoint")),
    ("evaluate-foreign-torch-file", lambda t, r, d: ["evaluate", "--run", str(_foreign_checkpoint(t, r, "torch-dict"))], ("best.pt", "checkpoint")),
    ("evaluate-pickled-object", lambda t, r, d: ["evaluate", "--run", str(_foreign_checkpoint(t, r, "pickle"))], ("best.pt", "checkpoint")),
    ("evaluate-wrong-class-count-data", lambda t, r, d: ["evaluate", "--run", str(r), "--data", str(npz(t))], ("toy.npz",)),
    ("evaluate-bad-device", lambda t, r, d: ["evaluate", "--run", str(r), "--device", "gpu"], ("--device", "auto, cpu or cuda")),
    ("predict-bad-device", lambda t, r, d: ["predict", "--run", str(r), "--data", str(d), "--device", "gpu"], ("--device", "gpu")),
    ("suggest-bad-device", lambda t, r, d: ["suggest", "--run", str(r), "--output", str(t / "s.csv"), "--device", "cuda:0"], ("--device", "cuda:0")),
    ("predict-output-is-the-runs-config", lambda t, r, d: ["predict", "--run", str(r), "--data", str(d), "--output", str(r / "config.yaml")], ("--output", "config.yaml", "--overwrite")),
    ("suggest-output-is-the-runs-metrics", lambda t, r, d: ["suggest", "--run", str(r), "--output", str(r / "metrics.json")], ("--output", "metrics.json", "--overwrite")),
    ("suggest-cleanlab-exists", lambda t, r, d: (lambda p: (p.write_text("{}"), ["suggest", "--run", str(r), "--output", str(t / "s.csv"), "--cleanlab", str(t / "p.npy")])[1])(t / "p.labels.json"), ("--cleanlab", "p.labels.json")),
    ("evaluate-output-is-the-runs-history", lambda t, r, d: ["evaluate", "--run", str(r), "--output", str(r / "history.csv")], ("--output", "history.csv")),
    ("predict-bad-split", lambda t, r, d: ["predict", "--run", str(r), "--data", str(d), "--split", "valid"], ("--split",)),
    ("predict-threshold-2", lambda t, r, d: ["predict", "--run", str(r), "--data", str(d), "--threshold", "2"], ("--threshold",)),
    ("predict-missing-data", lambda t, r, d: ["predict", "--run", str(r), "--data", str(t / "nope")], ("nope",)),
    ("predict-gzip-checkpoint", lambda t, r, d: ["predict", "--run", str(_foreign_checkpoint(t, r, "gzip")), "--data", str(d)], ("best.pt",)),
    ("simulate-bad-suffix", lambda t, r, d: ["simulate", "--data", str(d), "--partial", "single-positive", "--output", str(t / "o.csv")], ("o.csv", ".txt")),
    ("simulate-bad-scheme", lambda t, r, d: ["simulate", "--data", str(d), "--partial", "fpc:-1", "--output", str(t / "o.npy")], ("fpc",)),
    ("simulate-output-exists", lambda t, r, d: ["simulate", "--data", str(d), "--partial", "full", "--output", str(r / "history.csv")], ("history.csv",)),
    ("simulate-bad-split", lambda t, r, d: ["simulate", "--data", str(d), "--partial", "full", "--split", "valid", "--output", str(t / "o.npy")], ("--split",)),
    ("losses-extra-argument", lambda t, r, d: ["losses", "a", "b"], ("b",)),
    ("demo-bad-flag", lambda t, r, d: ["demo", "--jobs", "many"], ("--jobs",)),
    ("unknown-command", lambda t, r, d: ["fly"], ("fly",)),
]  # fmt: skip


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES])
def test_bad_flags_and_files_of_every_command(
    build: Callable[[Path, Path, Path], list[str]],
    expected: tuple[str, ...],
    earlier_run: Path,
    tmp_path: Path,
    capsys: Any,
) -> None:
    data = write_npy_dir(tmp_path / "good", n=40, n_test=10)
    argv = build(tmp_path, earlier_run, data)
    _check(argv, earlier_run, capsys, expected)


def test_class_without_observed_positive_is_a_warning_not_an_error(tmp_path: Path, capsys: Any) -> None:
    """Decision: legal (long-tailed data, single-positive simulation), so exit 0 with one warning line."""
    data = write_npy_dir(tmp_path / "d", n=40, n_test=10)
    y = np.load(data / "train_labels.npy")
    y[:, 2] = 0
    y[y.sum(axis=1) == 0, 0] = 1
    np.save(data / "train_labels.npy", y)
    argv = ["train", "--data", str(data), "--epochs", "1", "--device", "cpu", "--no-progress"]
    assert run_cli([*argv, "--output-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("partialml: warning: 1 of 4 classes") and "class_2" in err[0]


# -- readers without a CLI command: the text lists and the image-label readers ---------------------------


def _lists(t: Path, text: str, num_classes: int = 3) -> Any:
    from partialml.labels import read_text_lists

    p = t / "labels.txt"
    p.write_text(text)
    return read_text_lists(p, num_classes)


def _image(t: Path, name: str, text: str, fmt: str, **kw: Any) -> Any:
    from partialml.data import read_image_labels

    p = t / name
    p.write_text(text)
    return read_image_labels(p, format=fmt, **kw)  # type: ignore[arg-type]


READER_CASES: list[tuple[str, Callable[[Path], Any], str]] = [
    ("lists-no-comma", lambda t: _lists(t, "img1 0 1\n"), "labels.txt:1"),
    ("lists-index-too-big", lambda t: _lists(t, "img1,0 3\n"), "labels.txt:1"),
    ("lists-negative-index", lambda t: _lists(t, "img1,-1\n"), "labels.txt:1"),
    ("lists-duplicate-name", lambda t: _lists(t, "a,0\na,1\n"), "labels.txt:2"),
    ("lists-empty", lambda t: _lists(t, ""), "labels.txt"),
    ("lists-truncated-utf8", lambda t: (lambda p: (p.write_bytes("é,0\n".encode()[:1]), __import__("partialml.labels", fromlist=["x"]).read_text_lists(p, 2))[1])(t / "labels.txt"), "labels.txt"),
    ("coco-truncated-json", lambda t: _image(t, "instances.json", '{"images": [{"id": 1', "coco"), "instances.json"),
    ("coco-wrong-type", lambda t: _image(t, "instances.json", '{"images": 3, "annotations": [], "categories": []}', "coco"), "instances.json"),
    ("csv-images-bad-row", lambda t: _image(t, "l.csv", 'image,labels\n"a.jpg\n', "csv"), "l.csv"),
    ("jsonl-not-json", lambda t: _image(t, "l.jsonl", "{oops\n", "jsonl"), "l.jsonl"),
    ("voc-missing-folder", lambda t: __import__("partialml.data", fromlist=["x"]).read_image_labels(t / "VOC", format="voc"), "VOC"),
]  # fmt: skip


@pytest.mark.parametrize(("read", "where"), [c[1:] for c in READER_CASES], ids=[c[0] for c in READER_CASES])
def test_library_readers_raise_one_line_naming_the_file(
    read: Callable[[Path], Any], where: str, tmp_path: Path
) -> None:
    with pytest.raises(PartialMLError) as info:
        read(tmp_path)
    message = str(info.value)
    assert "\n" not in message and where in message, message


# -- the end-to-end setting: images, image-label formats, weight files (through the CLI) -----------------
# Tiny data from tests/image_training (24 + 8 PNGs of 32 x 32, 3 colour classes); the earlier run that
# every case must leave byte-identical is an end-to-end run, replaced with --overwrite.


def _image_dir(tmp: Path) -> Path:
    from ..image_training.conftest import write_csv, write_images

    root = tmp / "images"
    write_csv(root / "labels.csv", write_images(root, n=24, seed=0, prefix="tr"))
    write_csv(root / "test.csv", write_images(root, n=8, seed=1, prefix="te"))
    return root


def _image_train(root: Path, run: Path, *extra: str, data: Path | None = None) -> list[str]:
    from ..image_training.conftest import tiny_args

    argv = tiny_args(root, run, "--epochs", "1", "--overwrite", *extra)
    if data is not None:
        argv[argv.index("--data") + 1] = str(data)
    return argv


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(image folder, finished 1-epoch end-to-end run)``."""
    base = tmp_path_factory.mktemp("earlier_images")
    root = _image_dir(base)
    run = base / "run"
    assert run_cli(_image_train(root, run)) == 0
    return root, run


def _truncated_jpeg(path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[:200])


def _edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _coco_without_categories(t: Path) -> Path:
    (t / "coco" / "annotations").mkdir(parents=True)
    doc = '{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}'
    (t / "coco" / "annotations" / "instances_train2014.json").write_text(doc)
    return t / "coco"


def _voc_without_class_files(t: Path) -> Path:
    (t / "VOC2007" / "ImageSets" / "Main").mkdir(parents=True)
    (t / "VOC2007" / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n")
    return t / "VOC2007"


def _cole_mismatch(t: Path) -> Path:
    d = t / "cole"
    d.mkdir()
    np.save(d / "formatted_train_images.npy", np.array(["img/tr00.png", "img/tr01.png", "img/tr02.png"]))
    np.save(d / "formatted_train_labels.npy", np.ones((2, 3), np.float32))
    return d


def _weights(t: Path, kind: str) -> Path:
    from partialml.models.backbones import build_backbone

    p = t / f"{kind}.pth"
    if kind == "resnet50":  # another architecture (bottleneck blocks), narrow so the file stays small
        torch.save(build_backbone("resnet50", width=8).state_dict(), p)
    else:
        p.write_bytes(np.random.default_rng(0).bytes(4096))
    return p


def _copy_images(t: Path, root: Path) -> Path:
    shutil.copytree(root, t / "copy")
    return t / "copy"


# (id, argv builder(tmp, image folder, run), expected fragments): each exits 2 with one line
IMAGE_CASES: list[tuple[str, Callable[[Path, Path, Path], list[str]], tuple[str, ...]]] = [
    ("missing-image", lambda t, d, r: (lambda c: ((c / "img" / "tr05.png").unlink(), _image_train(c, r))[1])(_copy_images(t, d)), ("tr05.png", "not found", "1 of 24", "labels.csv")),
    ("corrupt-jpeg", lambda t, d, r: (lambda c: (_truncated_jpeg(c / "img" / "tr07.png"), _image_train(c, r))[1])(_copy_images(t, d)), ("tr07.png", "cannot decode", "labels.csv")),
    ("random-bytes-image", lambda t, d, r: (lambda c: ((c / "img" / "tr00.png").write_bytes(b"\x89PNG" + bytes(50)), _image_train(c, r))[1])(_copy_images(t, d)), ("tr00.png", "cannot decode")),
    ("missing-test-image", lambda t, d, r: (lambda c: ((c / "img" / "te02.png").unlink(), _image_train(c, r))[1])(_copy_images(t, d)), ("te02.png", "not found", "test.csv")),
    ("image-is-a-folder", lambda t, d, r: (lambda c: ((c / "img" / "tr03.png").unlink(), (c / "img" / "tr03.png").mkdir(), _image_train(c, r))[2])(_copy_images(t, d)), ("tr03.png", "directory")),
    ("csv-unknown-class-in-test", lambda t, d, r: (lambda c: (_edit_text(c / "test.csv", "red", "magenta"), _image_train(c, r))[1])(_copy_images(t, d)), ("test.csv:", "'magenta'", "blue, green, red")),
    ("csv-class-without-label", lambda t, d, r: (lambda c: (_edit_text(c / "labels.csv", ",green,red|blue", ",purple,red|blue"), _image_train(c, r))[1])(_copy_images(t, d)), ("labels.csv", "'purple'", "full labels")),
    ("csv-unknown-image-column", lambda t, d, r: (lambda c: (_edit_text(c / "labels.csv", "path,labels,negatives", "file,labels,negatives"), _image_train(c, r))[1])(_copy_images(t, d)), ("labels.csv",)),
    ("coco-without-categories", lambda t, d, r: _image_train(d, r, "--format", "coco", data=_coco_without_categories(t)), ("instances_train2014.json", "'categories'")),
    ("voc-without-class-files", lambda t, d, r: _image_train(d, r, "--format", "voc", data=_voc_without_class_files(t)), ("aeroplane_trainval.txt", "not found")),
    ("cole-images-vs-label-rows", lambda t, d, r: _image_train(d, r, "--format", "cole", data=_cole_mismatch(t)), ("formatted_train_labels.npy", "2 rows", "3 paths")),
    ("weights-of-resnet50-into-resnet18", lambda t, d, r: _image_train(d, r, "--weights", str(_weights(t, "resnet50"))), ("resnet50.pth", "do not fit", "--model")),
    ("weights-random-bytes", lambda t, d, r: _image_train(d, r, "--weights", str(_weights(t, "junk"))), ("junk.pth", "cannot read the weight file")),
    ("weights-missing-file", lambda t, d, r: _image_train(d, r, "--weights", str(t / "none.pth")), ("none.pth", "not found")),
    ("image-size-0", lambda t, d, r: _image_train(d, r, "--image-size", "0"), ("--image-size", ">= 8")),
    ("model-unknown", lambda t, d, r: _image_train(d, r, "--model", "nosuchmodel"), ("--model", "'nosuchmodel'", "resnet18")),
    ("image-root-missing", lambda t, d, r: _image_train(d, r, "--image-root", str(t / "nope")), ("nope", "--image-root")),
    ("test-split-missing", lambda t, d, r: _image_train(d, r, "--test-split", str(t / "none.csv")), ("none.csv", "not found")),
    ("format-not-guessable", lambda t, d, r: _image_train(d, r, data=(lambda p: (p.write_text("x"), p)[1])(t / "labels.txt")), ("--format", "labels.txt")),
    ("format-features-only", lambda t, d, r: _image_train(d, r, "--format", "npz"), ("--format", "'npz'")),
    ("head-mlp", lambda t, d, r: _image_train(d, r, "--head", "mlp"), ("--head", "linear or cam")),
    ("on-bad-image-bogus", lambda t, d, r: _image_train(d, r, "--on-bad-image", "ignore"), ("ignore",)),
    ("recipe-unknown", lambda t, d, r: _image_train(d, r, "--recipe", "fast"), ("--recipe", "'fast'")),
    ("predict-missing-image", lambda t, d, r: (lambda c: ((c / "img" / "te04.png").unlink(), ["predict", "--run", str(r), "--data", str(c / "test.csv"), "--image-root", str(c), "--output", str(t / "s.csv")])[1])(_copy_images(t, d)), ("te04.png", "not found")),
]  # fmt: skip


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES])
def test_bad_image_inputs_exit_2_and_keep_the_earlier_run(
    build: Callable[[Path, Path, Path], list[str]],
    expected: tuple[str, ...],
    image_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: Any,
) -> None:
    root, run = image_run
    _check(build(tmp_path, root, run), run, capsys, expected)


def test_on_bad_image_skip_warns_with_the_count_and_trains(
    image_run: tuple[Path, Path], tmp_path: Path, capsys: Any
) -> None:
    copy = _copy_images(tmp_path, image_run[0])
    _truncated_jpeg(copy / "img" / "tr07.png")
    (copy / "img" / "tr11.png").unlink()
    out = tmp_path / "run"
    capsys.readouterr()
    assert run_cli(_image_train(copy, out, "--on-bad-image", "skip")) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("partialml: warning: --on-bad-image skip: 2 unreadable"), err
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted({b["path"] for b in metrics["bad_images"]}) == ["img/tr07.png", "img/tr11.png"]
    assert metrics["val"]["mAP"] is not None and metrics["test"]["mAP"] is not None


def test_a_bad_image_read_by_a_worker_process_is_one_line(tmp_path: Path) -> None:
    """An image that goes bad after the setup check, read in a DataLoader worker: one line, not the
    worker's multi-line traceback."""
    from partialml.data.images import ImageDataset
    from partialml.engine.image_setting import ImageBatches

    root = _image_dir(tmp_path)
    (root / "img" / "tr02.png").unlink()
    dataset = ImageDataset([f"img/tr{i:02d}.png" for i in range(4)], root=root)
    batches = ImageBatches(dataset, np.arange(4), batch_size=2, num_workers=1)
    with pytest.raises(PartialMLError) as info:
        list(batches)
    assert "\n" not in str(info.value) and str(info.value).endswith("tr02.png: image file not found")
