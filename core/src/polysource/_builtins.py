"""polysource's own behaviour, shipped as a default plugin: the standard datasets."""

from __future__ import annotations

from polysource.datasets import STANDARD_DATASETS
from polysource.hookspecs import hookimpl
from polysource.registry import DatasetRegistrar


@hookimpl
def register_datasets(register: DatasetRegistrar) -> None:
    """Register the standard datasets of the first-party domains."""
    for dataset in STANDARD_DATASETS:
        register(dataset)
