"""The fixed sets of a config: each set's identity, size and seed (config `data`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mathformer.core.config import RunConfig
from mathformer.formats.datasets import dataset_seed
from mathformer.formats.results_layout import coeff_range_text

ROLES = ("valid", "test", "ood")


@dataclass(frozen=True)
class DataSet:
    """One fixed set: a run's problem (task, n, law, coefficient range), drawn with `spectrum`, for
    `role` (valid: validation; test: the failure analyses; ood: the out-of-distribution table)."""

    task: str
    n: int
    law: str
    coeff_range: float
    spectrum: str
    role: str

    @classmethod
    def of(cls, settings: RunConfig, spectrum: str, role: str) -> DataSet:
        return cls(settings.task, settings.n, settings.law, settings.coeff_range, spectrum, role)

    def path_fields(self) -> dict[str, str]:
        """Its fields as results_layout.DATASET spells them (and the generate rule's wildcards read)."""
        return {
            "task": self.task,
            "n": str(self.n),
            "law": self.law,
            "coeff_range": coeff_range_text(self.coeff_range),
            "spectrum": self.spectrum,
            "role": self.role,
        }


@dataclass(frozen=True)
class DataSettings:
    """Config `data`: the base seed of every set, and the size of a set of each role."""

    seed: int
    sizes: Mapping[str, int]

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> DataSettings:
        return cls(data["seed"], {role: data[f"{role}_size"] for role in ROLES})

    def size(self, role: str) -> int:
        return self.sizes[role]

    def seed_of(self, task: str, n: str, law: str, coeff_range: str, spectrum: str, role: str) -> int:
        """The seed of the set with this identity, spelled as in its path (DataSet.path_fields)."""
        return dataset_seed(self.seed, task, n, law, coeff_range, spectrum, role)
