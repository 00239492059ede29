"""What the user weighs: weights per crime category and per intervention type.

With category weights ``w_k`` (e.g. ``violence=2``) and type weights ``u_t`` (e.g.
``youth_space=1.5``) a candidate's stand-alone value is ``v_j = sum_g w_k base_g s_jg e_j``
and its type bonus ``(u_t - 1) v_j`` (see :mod:`hotspot_env.interventions.optimise` for the
portfolio objective they enter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hotspot_env.errors import InputError
from hotspot_env.interventions.evidence import CATEGORIES
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.interventions.strata import CATEGORY_GROUPS


@dataclass(frozen=True)
class Weights:
    """User weights: per crime category and per intervention type (default 1).

    ``violence`` also weights ``gun_violence`` unless that is given itself.
    """

    categories: Mapping[str, float] = field(default_factory=dict)
    types: Mapping[str, float] = field(default_factory=dict)

    def category_vector(self) -> np.ndarray:
        """Weight per :data:`CATEGORY_GROUPS` entry."""
        cats = dict(self.categories)
        if "violence" in cats and "gun_violence" not in cats:
            cats["gun_violence"] = cats["violence"]
        return np.array([float(cats.get(g, 1.0)) for g in CATEGORY_GROUPS])

    def type_vector(self, types: np.ndarray) -> np.ndarray:
        """Weight per candidate type."""
        types = np.asarray(types, dtype=str)
        out = np.ones(types.size)
        for t, w in self.types.items():
            out[types == t] = float(w)
        return out

    def key(self) -> tuple:
        """Hashable form (for caching); weights of 1 (the default) are left out, so the
        same ranking has one key whether or not a neutral weight was given."""
        return (tuple(self.category_vector().tolist()),
                tuple(sorted((k, v) for k, v in self.types.items() if v != 1.0)))

    def as_text(self) -> str:
        """``"violence=2,youth_space=1.5"`` (empty when all weights are 1)."""
        items = sorted({**self.categories, **self.types}.items())
        # a neutral weight says nothing, except gun_violence=1 beside another violence weight
        keep = {k for k, v in items if v != 1.0}
        if "gun_violence" in self.categories and self.categories.get("violence", 1.0) != 1.0:
            keep.add("gun_violence")
        return ",".join(f"{k}={v:g}" for k, v in items if k in keep)


def parse_weights(
    weights: str | Mapping[str, float] | Weights | None, types: list[str] | None = None
) -> Weights:
    """Read weights from ``"violence=2,youth_space=1.5"`` or a dict.

    Keys are crime categories (:data:`CATEGORIES` or ``other``) or
    intervention types. Weights must be finite and >= 0.

    Raises
    ------
    InputError
        Unknown key, malformed pair or a negative weight.
    """
    if weights is None:
        return Weights()
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, str):
        pairs: dict[str, float] = {}
        for part in [p for p in weights.split(",") if p.strip()]:
            if "=" not in part:
                raise InputError(f"weight {part.strip()!r} must look like name=number, e.g. "
                                 "violence=2")
            name, value = part.split("=", 1)
            try:
                pairs[name.strip().lower()] = float(value)
            except ValueError:
                raise InputError(f"weight {part.strip()!r}: {value.strip()!r} is not a number"
                                 ) from None
    else:
        pairs = {str(k).strip().lower(): float(v) for k, v in weights.items()}
    cats: dict[str, float] = {}
    typ: dict[str, float] = {}
    categories = set(CATEGORIES) | {"other"}
    for name, value in pairs.items():
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"weight {name}={value:g} must be a number >= 0")
        if name in categories:
            cats[name] = value
        elif types is None or name in types:
            typ[name] = value
        else:
            raise InputError(f"unknown weight {name!r}: use a crime category "
                             f"({', '.join(sorted(categories))}) or an intervention type "
                             f"({', '.join(types)})")
    return Weights(cats, typ)


def weighted_values(model: ImpactModel, weights: Weights, types: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand-alone weighted value, type weight and type bonus per candidate."""
    cat_w = weights.category_vector()
    value = model.standalone()["by_category"] @ cat_w
    type_w = weights.type_vector(types)
    return value, type_w, (type_w - 1.0) * value
