"""Models: classifier heads on precomputed features (:mod:`partialml.models.heads`)."""

from partialml.models.heads import (
    FeatureClassifier,
    HeadKind,
    LinearHead,
    MLPHead,
    Standardize,
    build_feature_classifier,
    feature_statistics,
)

__all__ = [
    "FeatureClassifier",
    "HeadKind",
    "LinearHead",
    "MLPHead",
    "Standardize",
    "build_feature_classifier",
    "feature_statistics",
]
