"""Class-balanced focal (option of ``focal``) and ``ltml-llr``."""

from __future__ import annotations

import math

import pytest
import torch

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.asymmetric import class_balanced_weights


def test_cb_weights_hand_computed() -> None:
    w = class_balanced_weights([2, 1], 0.9)
    a, b = 0.1 / (1 - 0.81), 1.0
    assert torch.allclose(w, torch.tensor([a, b], dtype=torch.float64) * 2 / (a + b))
    assert torch.allclose(class_balanced_weights([5, 0, 3], 0.0), torch.ones(3, dtype=torch.float64))


def test_cb_focal_scales_plain_focal_per_class() -> None:
    y = torch.tensor([[1, 0, -1], [1, 1, 0], [1, -1, 0]])
    logits = torch.randn(3, 3, generator=torch.Generator().manual_seed(0))
    plain = create_loss("focal", reduction="none")(logits, y)
    cb = create_loss("focal", labels=y, class_balanced_beta=0.99, reduction="none")(logits, y)
    w = class_balanced_weights([3, 1, 1], 0.99).float()
    assert torch.allclose(cb, plain * w)
    with pytest.raises(PartialMLError, match="class_counts"):
        create_loss("focal", class_balanced_beta=0.9)
    with pytest.raises(PartialMLError, match="class_balanced_beta"):
        create_loss("focal", labels=y, class_balanced_beta=1.0)


def test_ltml_llr_epoch0_equals_ltml_and_rejects_largest_unknown() -> None:
    y = torch.tensor([[1, -1, -1, -1], [-1, 1, -1, -1]], dtype=torch.int8)
    obs = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=torch.int8)
    logits = torch.tensor([[0.5, 3.0, -1.0, 0.0], [0.2, -0.3, 5.0, 1.0]])
    peer = torch.zeros_like(logits)
    kw = {"compensation": "statistics", "reduction": "none"}
    ltml = create_loss("ltml", labels=obs, **kw)
    llr = create_loss("ltml-llr", labels=obs, delta_rel=0.25, **kw)
    assert torch.equal(ltml(logits, y, peer_logits=peer), llr(logits, y, peer_logits=peer))
    llr.set_epoch(1)  # rate 0.25: k = ceil(8 * 0.25) = 2 largest unknown LTML losses rejected
    ref = ltml.compute(logits, y, None)
    out = llr(logits, y, peer_logits=peer)
    unknown = ref.masked_fill(y != -1, -math.inf).flatten()
    top = set(torch.topk(unknown, 2).indices.tolist())
    consistency = 0.1 * logits**2
    for i, (a, b, c) in enumerate(zip(out.flatten(), ref.flatten(), consistency.flatten(), strict=True)):
        assert torch.isclose(a, c if i in top else b + c)
    assert int(llr.last_selection.sum()) == 2
