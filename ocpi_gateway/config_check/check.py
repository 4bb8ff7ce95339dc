"""``ocpi-gateway config check``: every operator file read and validated, and checked against
the others, without starting anything; every problem of every file reported in one go."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ocpi_gateway.admin.operators import load_operators
from ocpi_gateway.config import ConfigError, GatewaySettings, environment_warnings, load_settings
from ocpi_gateway.config_check.consistency import disagreements
from ocpi_gateway.domain.operator_file import OperatorFileError
from ocpi_gateway.locations.catalog import load_locations_file
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig, load_chargers
from ocpi_gateway.reservation_policy.policy import PolicyFile, load_policy
from ocpi_gateway.tariffs.catalog import TariffsCatalog


@dataclass(slots=True)
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    """What was read, in plain words (``locations.yaml: 2 locations, 5 EVSEs``)."""

    @property
    def ok(self) -> bool:
        return not self.errors


def check_files(config: Path | str | None = None,
                environ: Mapping[str, str] | None = None) -> CheckReport:
    """Read gateway.yaml (``config``, else the default one) and every file it names."""
    report = CheckReport(warnings=environment_warnings(
        os.environ if environ is None else environ))
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        report.errors.extend(exc.problems)
        return report  # without valid settings the other files are not known
    report.read.append("settings: valid")
    _check_operator_files(settings, report)
    return report


def _check_operator_files(settings: GatewaySettings, report: CheckReport) -> None:
    locations: list[OperatorLocation] | None = None
    chargers: ChargersConfig | None = None
    policy: PolicyFile | None = None
    if settings.locations_file is not None:
        try:
            locations = load_locations_file(settings.locations_file)
            evses = sum(len(location.evses) for location in locations)
            report.read.append(f"{settings.locations_file}: {len(locations)} locations, "
                               f"{evses} EVSEs")
        except OperatorFileError as exc:
            report.errors.extend(exc.problems)
    if settings.chargers_file is not None:
        try:
            chargers = load_chargers(settings.chargers_file)
            report.read.append(f"{settings.chargers_file}: {len(chargers.chargers)} chargers")
        except OperatorFileError as exc:
            report.errors.extend(exc.problems)
    if settings.policy_file is not None:
        try:
            policy = load_policy(settings.policy_file)
            report.read.append(f"{settings.policy_file}: valid, {len(policy.locations)} "
                               f"location and {len(policy.partners)} partner overrides")
        except OperatorFileError as exc:
            report.errors.extend(exc.problems)
    if settings.operators_file is not None:
        try:
            accounts = load_operators(settings.operators_file).operators
            roles = sorted({a.role.value for a in accounts})
            report.read.append(f"{settings.operators_file}: {len(accounts)} operators"
                               + (f" ({', '.join(roles)})" if roles else
                                  ": nobody can log in to the admin API"))
        except OperatorFileError as exc:
            report.errors.extend(exc.problems)
    if settings.tariffs_file is not None:
        role = settings.cpo_roles[0]
        try:
            tariffs = TariffsCatalog.from_file(settings.tariffs_file,
                                               party=(role.country_code, role.party_id))
            report.read.append(f"{settings.tariffs_file}: {len(tariffs.tariffs())} tariffs")
            if locations is not None:
                tariffs.check_references(locations, settings.locations_file)
        except OperatorFileError as exc:
            report.errors.extend(exc.problems)
    if locations is None:
        return
    found = disagreements(locations, settings.locations_file,
                          chargers=chargers, chargers_file=settings.chargers_file,
                          policy=policy, policy_file=settings.policy_file)
    report.errors.extend(found.errors)
    report.warnings.extend(found.warnings)
