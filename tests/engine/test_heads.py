"""Heads and standardization statistics (checked against NumPy)."""

from __future__ import annotations

import numpy as np
import torch

from partialml.models import build_feature_classifier, feature_statistics


def test_feature_statistics_match_numpy_on_the_given_rows_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(100, 5)).astype(np.float32)
    x[:, 4] = 7.0  # constant column: std replaced by 1
    rows = rng.choice(100, size=60, replace=False)
    mean, std = feature_statistics(x, rows, chunk_rows=16)
    np.testing.assert_allclose(mean.numpy(), x[rows].astype(np.float64).mean(0), rtol=1e-6)
    expected = x[rows].astype(np.float64).std(0)
    expected[4] = 1.0
    np.testing.assert_allclose(std.numpy(), expected, rtol=1e-5)
    same, _ = feature_statistics(torch.from_numpy(x), torch.from_numpy(rows))
    np.testing.assert_allclose(same.numpy(), mean.numpy(), rtol=1e-6)


def test_standardized_model_equals_head_on_standardized_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 5) * 4 + 1
    mean, std = x.mean(0), x.std(0)
    model = build_feature_classifier("linear", in_dim=5, num_classes=3, mean=mean, std=std)
    assert torch.allclose(model(x), model.head((x - mean) / std))
    assert {"standardize.mean", "standardize.std"} <= set(model.state_dict())


def test_mlp_head_shapes_and_dropout_only_in_training() -> None:
    model = build_feature_classifier("mlp", in_dim=6, num_classes=4, hidden_dim=9, dropout=0.5)
    x = torch.randn(5, 6)
    assert model(x).shape == (5, 4)
    model.eval()
    assert torch.equal(model(x), model(x))
