"""TrainConfig: YAML then flags, type and range checks with one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from partialml.engine.config import TrainConfig, dump_config, load_config, resolve_config
from partialml.errors import PartialMLError


def test_defaults_are_valid_and_roundtrip_through_yaml(tmp_path: Path) -> None:
    config = TrainConfig(data="yeast", output_dir="x", loss_args={"delta_rel": 0.002})
    config.validate()
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_flags_override_yaml_and_yaml_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"epochs": 7, "lr": 0.01, "loss-args": {"a": 1, "b": 2}, "head": "mlp"}))
    config = resolve_config(config_file=path, overrides={"lr": 0.5, "loss_args": {"b": 3}, "seed": None})
    assert config.epochs == 7  # from the file
    assert config.lr == 0.5  # the flag wins
    assert config.head == "mlp"
    assert config.loss_args == {"a": 1, "b": 3}  # flags add to / override the file's loss options
    assert config.seed == TrainConfig().seed  # None means "flag not given"


def test_int_is_accepted_for_float_but_bool_is_not_int() -> None:
    assert TrainConfig.from_mapping({"lr": 1}).lr == 1.0
    with pytest.raises(PartialMLError, match="epochs"):
        TrainConfig.from_mapping({"epochs": True})


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": 0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"format": "parquet"}, "format"),
        ({"val_labels": "dirty"}, "val_labels"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"setting": "e2e"}, "setting"),
        ({"sampler": "random"}, "sampler"),
        ({"nan_policy": "ignore"}, "nan_policy"),
        ({"device": "gpu"}, "device"),
        ({"early_stop_drop": -3}, "early_stop_drop"),
        ({"lr": "fast"}, "lr"),
        ({"loss_args": [1, 2]}, "loss_args"),
    ],
)
def test_bad_values_name_the_yaml_key_or_the_flag(values: dict, key: str, tmp_path: Path) -> None:
    """From a file: ``FILE: key: got ...``; from the command line: ``--flag: got ...``. One line each."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(PartialMLError) as info:
        resolve_config(config_file=path)
    message = str(info.value)
    assert f"{path}: {key}: got" in message and "\n" not in message
    with pytest.raises(PartialMLError) as info:
        resolve_config(overrides=values)
    flag = "--" + key.replace("_", "-")
    assert str(info.value).startswith(f"{flag}: got") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("values", "key"), [({"nonsense": 1}, "nonsense"), ({"overwrite": True, "resume": True}, "--overwrite")]
)
def test_unknown_keys_and_conflicts_name_the_file(values: dict, key: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(PartialMLError) as info:
        resolve_config(config_file=path)
    assert key in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_yaml_that_is_not_a_mapping_or_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(PartialMLError, match="mapping"):
        resolve_config(config_file=path)
    path.write_text("epochs: [1,\n")
    with pytest.raises(PartialMLError, match="YAML"):
        resolve_config(config_file=path)
    with pytest.raises(PartialMLError, match="cannot read"):
        resolve_config(config_file=tmp_path / "missing.yaml")


def test_protocol_differences_ignore_resumable_options() -> None:
    a = TrainConfig(data="d", epochs=2)
    assert a.protocol_differences(TrainConfig(data="d", epochs=9, device="cpu")) == []
    assert a.protocol_differences(TrainConfig(data="d", seed=3)) == ["seed"]
