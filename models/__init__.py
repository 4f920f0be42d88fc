"""Model families: each module has NAME, PARAMS (the hyperparameter table) and build(params, spec)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import SpecError


@dataclass(frozen=True)
class Param:
    """One hyperparameter: the Train page makes a widget of it and the search a range."""

    name: str
    type: type  # int, float, str or bool
    default: Any
    low: Any = None  # numbers: inclusive range; str: choices in `choices`
    high: Any = None
    help: str = ""
    log: bool = False  # searched on a log scale
    choices: tuple = ()
    searched: bool = True  # False: the search keeps the default (round counts, iteration caps)


def families() -> dict:
    """Family name -> module."""
    from models import ensemble, forest, gbdt, hashed_sgd, linear

    return {module.NAME: module for module in (gbdt, linear, forest, hashed_sgd, ensemble)}


def family(name: str):
    found = families()
    if name not in found:
        raise SpecError(f"Unknown model family {name!r}; use one of: {', '.join(found)}.")
    return found[name]


def resolve_params(module, given: dict) -> dict:
    """The family's defaults updated with `given`, each checked for type and range."""
    table = {p.name: p for p in module.PARAMS}
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise SpecError(f"Unknown parameter {unknown[0]!r} for {module.NAME}; parameters: {', '.join(table)}.")
    out = {p.name: p.default for p in module.PARAMS}
    for name, value in given.items():
        out[name] = _coerce(table[name], value, module.NAME)
    if hasattr(module, "check_params"):  # rules across parameters, such as an ensemble's members
        module.check_params(out)
    return out


def _coerce(param: Param, value: Any, family_name: str) -> Any:
    where = f"Parameter {param.name}={value!r} for {family_name}"
    try:
        if param.type is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = value.lower() in ("true", "1", "yes")
            value = bool(value)
        elif param.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = int(value)
        elif param.type is float:
            value = float(value)
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where} must be of type {param.type.__name__}.") from None
    if param.choices and value not in param.choices:
        raise SpecError(f"{where} must be one of: {', '.join(map(str, param.choices))}.")
    if param.low is not None and not param.low <= value <= param.high:
        raise SpecError(f"{where} is out of range [{param.low}, {param.high}].")
    return value


def oversampling_problem(module, method: str) -> str | None:
    """Why `module` cannot oversample with `method`, or None: a streamed family never holds every positive at once."""
    from core.spec import OVERSAMPLING

    if getattr(module, "STREAMING", False) and method in OVERSAMPLING:
        return f"{module.NAME} streams its data, so it cannot oversample ({method}); use undersample."
    return None
