"""The ``OCPI_GATEWAY_*`` environment variables beside gateway.yaml: which ones are settings,
which setting a bad value came from, and which variables are misspelt.

pydantic-settings reads the variables but silently ignores a name it does not know, and it
reports a bad value under the key it sets, so that the operator would look for it in the
YAML file. These answers name the variable instead.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping

from pydantic import BaseModel

from ocpi_gateway.domain.operator_file import type_alternatives

ENV_PREFIX = "OCPI_GATEWAY_"
NESTED = "__"
NOT_SETTINGS = frozenset({
    "OCPI_GATEWAY_CONFIG",  # which config file (config.default_config_path)
    "OCPI_GATEWAY_HEALTH_URL",  # the image's health check (docker/Dockerfile)
    # The CLI's acts through a running gateway (admin/remote.py): where, and who.
    "OCPI_GATEWAY_ADMIN_URL",
    "OCPI_GATEWAY_OPERATOR_TOKEN",
})


def setting_variables(model: type[BaseModel], prefix: str = ENV_PREFIX) -> set[str]:
    """Every variable name that sets a key of ``model``: a key, and each nested key of a
    key that is itself a model (``OCPI_GATEWAY_LISTEN`` and ``OCPI_GATEWAY_LISTEN__PORT``)."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        variable = prefix + name.upper()
        names.add(variable)
        for candidate in type_alternatives(info.annotation):
            if inspect.isclass(candidate) and issubclass(candidate, BaseModel):
                names |= setting_variables(candidate, variable + NESTED)
    return names


def unknown_variables(environ: Mapping[str, str], model: type[BaseModel]) -> list[str]:
    """One warning per ``OCPI_GATEWAY_*`` variable that sets nothing, with the nearest name."""
    known = setting_variables(model)
    warnings = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper in NOT_SETTINGS:
            continue
        # Compared without the prefix every name shares, which would make any two alike.
        suffixes = sorted(name[len(ENV_PREFIX):] for name in known | NOT_SETTINGS)
        near = difflib.get_close_matches(upper[len(ENV_PREFIX):], suffixes, n=1, cutoff=0.75)
        hint = f"; did you mean {ENV_PREFIX}{near[0]}?" if near else ""
        warnings.append(f"environment variable {variable} is not a setting and is ignored{hint}")
    return warnings


def environment_origin(environ: Mapping[str, str]
                       ) -> Callable[[tuple[str | int, ...]], str | None]:
    """For a key's place in the settings, the variable its value came from, or None (the
    file). The longest variable wins: ``OCPI_GATEWAY_LISTEN__PORT`` over ``..._LISTEN``."""
    present = {name.upper(): name for name in environ if name.upper().startswith(ENV_PREFIX)}

    def origin(loc: tuple[str | int, ...]) -> str | None:
        for end in range(len(loc), 0, -1):
            variable = ENV_PREFIX + NESTED.join(str(part).upper() for part in loc[:end])
            if variable in present:
                inside = ".".join(str(part) for part in loc[end:])
                where = f" (its key {inside})" if inside else ""
                return f"environment variable {present[variable]}{where}"
        return None

    return origin
