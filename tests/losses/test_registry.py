"""The loss registry: every issue #2 name is registered, errors list the valid choices."""

from __future__ import annotations

import pytest

from partialml.errors import PartialMLError
from partialml.losses import create_loss, list_losses, loss_entry
from partialml.losses.base import PartialLabelLoss

ISSUE_2_NAMES = [
    "an",
    "iu",
    "wan",
    "an-ls",
    "epr",
    "role",
    "ll-r",
    "ll-ct",
    "ll-cp",
    "hill",
    "splc",
    "focal",
    "asl",
    "db",
    "ltml",
    "em",
    "em-apl",
    "bce",
]
MINE = ["bce", "an", "iu", "wan", "an-ls", "ll-r", "ll-ct", "ll-cp", "hill", "splc", "focal", "asl"]


def test_every_issue_name_registered():
    missing = sorted(set(ISSUE_2_NAMES) - set(list_losses()))
    assert not missing, f"not registered: {missing}"


@pytest.mark.parametrize("name", MINE)
def test_entry_has_description_and_paper(name):
    entry = loss_entry(name)
    assert entry.description and "\n" not in entry.description
    assert entry.paper
    assert issubclass(entry.cls, PartialLabelLoss)
    assert isinstance(create_loss(name), entry.cls)


def test_pattern():
    assert list_losses("ll-*") == ["ll-cp", "ll-ct", "ll-r"]
    assert list_losses() == sorted(list_losses())


def test_unknown_name_lists_valid():
    with pytest.raises(PartialMLError) as info:
        create_loss("nope")
    message = str(info.value)
    assert "nope" in message and "\n" not in message
    for name in MINE:
        assert name in message


def test_unknown_option_lists_valid():
    with pytest.raises(PartialMLError) as info:
        create_loss("ll-r", delta=0.1)
    message = str(info.value)
    assert "delta" in message and "delta_rel" in message and "reduction" in message
    with pytest.raises(PartialMLError, match="gamma_neg"):
        create_loss("asl", gamma=2)
