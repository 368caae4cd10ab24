"""partialml.labels: the one label encoding, converters, the LabelStore, simulators and statistics.

Encoding everywhere: int8 ``1`` observed positive, ``0`` observed negative, ``-1`` unknown.
"""

from __future__ import annotations

from partialml.labels.convert import (
    check_sample_names,
    from_cole,
    from_csl,
    from_dense01,
    read_cole_npy,
    read_text_lists,
    to_cole,
    to_csl,
    to_dense01,
    write_text_lists,
)
from partialml.labels.encoding import (
    LABEL_DTYPE,
    NEGATIVE,
    POSITIVE,
    TORCH_LABEL_DTYPE,
    UNKNOWN,
    validate_labels,
)
from partialml.labels.simulate import (
    COLE_SEED,
    PartialScheme,
    apply_scheme,
    fix_per_class,
    fraction_left,
    parse_scheme,
    random_per_sample,
    single_positive,
)
from partialml.labels.stats import (
    cardinality,
    density,
    frequency_groups,
    head_medium_tail,
    label_counts,
    label_statistics,
    positives_per_class,
    positives_per_sample,
)
from partialml.labels.store import DENSE_MAX_ENTRIES, LabelStore

__all__ = [
    "COLE_SEED",
    "DENSE_MAX_ENTRIES",
    "LABEL_DTYPE",
    "NEGATIVE",
    "POSITIVE",
    "TORCH_LABEL_DTYPE",
    "UNKNOWN",
    "LabelStore",
    "PartialScheme",
    "apply_scheme",
    "cardinality",
    "check_sample_names",
    "density",
    "fix_per_class",
    "fraction_left",
    "frequency_groups",
    "from_cole",
    "from_csl",
    "from_dense01",
    "head_medium_tail",
    "label_counts",
    "label_statistics",
    "parse_scheme",
    "positives_per_class",
    "positives_per_sample",
    "random_per_sample",
    "read_cole_npy",
    "read_text_lists",
    "single_positive",
    "to_cole",
    "to_csl",
    "to_dense01",
    "validate_labels",
    "write_text_lists",
]
