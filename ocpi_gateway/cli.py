"""``ocpi-gateway``: serve, partners, and the subcommands other parts plug in.

A part adds its subcommands by listing ``"package.module:function"`` in :data:`SUBCOMMANDS`;
the function receives argparse's subparsers object, adds its parser(s) and sets
``func=<callable(args) -> int>`` with ``set_defaults``. ``--config`` is on the top-level parser,
so every subcommand can read ``args.config`` (None: see ``config.default_config_path``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ocpi_gateway import __version__
from ocpi_gateway.config import (
    CONFIG_ENV,
    SYSTEM_CONFIG,
    GatewaySettings,
    load_settings,
)
from ocpi_gateway.domain.operator_file import OperatorFileError

Subparsers = Any  # argparse._SubParsersAction is private
CONFIG_HELP = (f"gateway YAML (default: ${CONFIG_ENV}, else ./config/gateway.yaml, "
               f"else {SYSTEM_CONFIG})")
SUBCOMMANDS: list[str] = [
    # "package.module:add_subcommands"
    "ocpi_gateway.ocpp_adapter.cli:add_subcommands",
    "ocpi_gateway.reservations.cli:add_subcommands",  # policy check / policy explain
    "ocpi_gateway.reservations.bans_cli:add_subcommands",  # bans list / lift / set
    "ocpi_gateway.demo.cli:add_subcommands",  # demo: simulated chargers and eMSP
    "ocpi_gateway.admin.cli:add_subcommands",  # operators hash-password
    # reservations list|show, outbox list|retry|drop, chargers list (after ocpp_adapter's
    # chargers hash-password: it adds to that parser)
    "ocpi_gateway.admin.cli_ops:add_subcommands",
    # reservations cancel, operators token, chargers command: through the running gateway's
    # admin API (admin/remote.py)
    "ocpi_gateway.admin.cli_remote:add_subcommands",
    "ocpi_gateway.admin.cli_charger_commands:add_subcommands",
    "ocpi_gateway.config_check.cli:add_subcommands",  # config check
    "ocpi_gateway.admin.report_cli:add_subcommands",  # report --from --to --format csv|json
]


def settings_from(args: argparse.Namespace) -> GatewaySettings:
    return load_settings(args.config)


def _serve(args: argparse.Namespace) -> int:
    from ocpi_gateway.serving import serve

    return serve(settings_from(args))


async def _with_registry(settings: GatewaySettings, work: Callable[[Any, Any], Any]) -> Any:
    from ocpi_gateway.partners.client import OcpiClient
    from ocpi_gateway.partners.registry import PartnerRegistry
    from ocpi_gateway.store import open_store

    store = await open_store(settings.store_url)
    client = OcpiClient()
    try:
        registry = PartnerRegistry(store)
        await registry.migrate_grants()
        return await work(registry, client)
    finally:
        await client.close()
        await store.close()


def _add_grant_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", action="append", default=[], metavar="ROLE:CC-PARTY",
                        help="a role the partner may hold, e.g. EMSP:DE-ABC (repeatable)")
    parser.add_argument("--hub", action="append", default=[], metavar="CC-PARTY",
                        help="the partner is a hub with this HUB role, e.g. DE-HUB")
    parser.add_argument("--forwards-for", action="append", default=[], metavar="CC-PARTY,...",
                        help="parties a hub may act for, e.g. DE-ABC,NL-XYZ (repeatable)")
    parser.add_argument("--any-role", action="store_true",
                        help="lab use only: accept whatever roles the partner declares")
    parser.add_argument("--helpdesk", action="store_true",
                        help="may unlock any connector (UNLOCK_CONNECTOR help desk)")


def _grants(args: argparse.Namespace) -> Any:
    from ocpi_gateway.partners.grants import grants_from_options

    return grants_from_options(roles=args.role, hubs=args.hub, forwards_for=args.forwards_for,
                               any_role=args.any_role, helpdesk=args.helpdesk)


def _has_grant_options(args: argparse.Namespace) -> bool:
    return bool(args.role or args.hub or args.forwards_for or args.any_role or args.helpdesk)


def _checked_grants(args: argparse.Namespace, *, require_role: bool) -> Any:
    """The grants of the flags, or None after printing why they cannot be used."""
    from ocpi_gateway.partners.grants import GrantError

    try:
        grants = _grants(args)
    except GrantError as exc:
        print(exc, file=sys.stderr)
        return None
    if require_role and not (grants.roles or grants.any_role):
        print("say what the partner may be: --role ROLE:CC-PARTY, --hub CC-PARTY or --any-role",
              file=sys.stderr)
        return None
    if args.forwards_for and require_role and not (args.hub or args.any_role):
        print("--forwards-for is for a hub: add --hub CC-PARTY", file=sys.stderr)
        return None
    return grants


def _invite(args: argparse.Namespace) -> int:
    from ocpi_gateway.versions import versions_url

    settings = settings_from(args)
    grants = _checked_grants(args, require_role=True)
    if grants is None:
        return 2

    async def work(registry: Any, client: Any) -> tuple[Any, str]:
        result: tuple[Any, str] = await registry.invite(args.name, grants)
        return result

    partner, token = asyncio.run(_with_registry(settings, work))
    print(f"partner:      {partner.name} ({partner.id})")
    print(f"granted:      {partner.grants.describe()}")
    print(f"token A:      {token}")
    print(f"versions URL: {versions_url(settings.public_url)}")
    print("Give both to the partner; it registers with POST to our credentials endpoint.")
    return 0


def _register(args: argparse.Namespace) -> int:
    from ocpi_gateway.modules import SUPPORTED_VERSIONS
    from ocpi_gateway.partners.handshake import HandshakeError
    from ocpi_gateway.partners.register import register_with_partner

    settings = settings_from(args)
    grants = None
    if _has_grant_options(args):
        grants = _checked_grants(args, require_role=True)
        if grants is None:
            return 2

    async def work(registry: Any, client: Any) -> Any:
        return await register_with_partner(registry, client, settings, SUPPORTED_VERSIONS,
                                           args.versions_url, args.token, name=args.name,
                                           grants=grants)

    try:
        partner = asyncio.run(_with_registry(settings, work))
    except HandshakeError as exc:
        print(f"registration failed ({int(exc.status_code)}): {exc.message}", file=sys.stderr)
        return 1
    print(f"registered {partner.name} ({partner.id}), OCPI {partner.version}")
    return 0


def _grant(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    grants = _checked_grants(args, require_role=False)
    if grants is None:
        return 2

    async def work(registry: Any, client: Any) -> Any:
        return await registry.grant(args.partner_id, grants)

    partner = asyncio.run(_with_registry(settings, work))
    if partner is None:
        print(f"no partner {args.partner_id}", file=sys.stderr)
        return 1
    print(f"{partner.name} ({partner.id}) granted: {partner.grants.describe()}")
    return 0


def _offboard(args: argparse.Namespace) -> int:
    from ocpi_gateway.partners.offboarding import delete_partner, revoke_partner

    settings = settings_from(args)

    async def work(registry: Any, client: Any) -> Any:
        store = registry.store
        if args.partners_command == "delete":
            return await delete_partner(store, registry, client, args.partner_id)
        return await revoke_partner(store, registry, args.partner_id)

    done = asyncio.run(_with_registry(settings, work))
    if done is None:
        print(f"no partner {args.partner_id}", file=sys.stderr)
        return 1
    verb = "deleted" if args.partners_command == "delete" else "revoked"
    print(f"{verb} {done.partner.name} ({done.partner.id}): its tokens no longer work, "
          f"{done.dead_lettered} pending deliveries dead-lettered")
    if done.remote_delete is not None:
        print(f"DELETE on their credentials endpoint: {done.remote_delete}")
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def work(registry: Any, client: Any) -> Any:
        return await registry.list()

    for partner in asyncio.run(_with_registry(settings, work)):
        roles = ", ".join(f"{r.role} {r.country_code}-{r.party_id}" for r in partner.roles)
        print(f"{partner.id}  {partner.name}  {partner.state.value}  "
              f"version={partner.version or '-'}  roles=[{roles}]  "
              f"granted=[{partner.grants.describe()}]")
        for endpoint in partner.endpoints:
            print(f"    {endpoint.identifier:<16} {endpoint.role:<8} {endpoint.url}")
    return 0


def build_parser(subcommands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpi-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", default=None,
                        help=CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default=argparse.SUPPRESS,
                       help="gateway YAML (default: config/gateway.yaml)")
    serve.set_defaults(func=_serve)

    partners = commands.add_parser("partners", help="eMSPs and hubs").add_subparsers(
        dest="partners_command", required=True)
    invite = partners.add_parser("invite", help="issue a token A for a partner to register")
    invite.add_argument("--name", required=True)
    _add_grant_options(invite)
    invite.set_defaults(func=_invite)
    register = partners.add_parser(
        "register", help="register with a partner's token A (keeps the roles they declare; "
        "restrict them with --role/--hub)")
    register.add_argument("--versions-url", required=True)
    register.add_argument("--token", required=True, help="the token A the partner gave us")
    register.add_argument("--name", default=None)
    _add_grant_options(register)
    register.set_defaults(func=_register)
    grant = partners.add_parser("grant", help="add roles, hub parties or help desk to a partner")
    grant.add_argument("partner_id")
    _add_grant_options(grant)
    grant.set_defaults(func=_grant)
    for name, text in (("revoke", "offboard: its tokens stop working at once, pushes stop"),
                       ("delete", "revoke, DELETE at their credentials endpoint, forget")):
        offboard = partners.add_parser(name, help=text)
        offboard.add_argument("partner_id")
        offboard.set_defaults(func=_offboard)
    partners.add_parser("list", help="partners, roles, grants, version, endpoints").set_defaults(
        func=_list)

    for spec in SUBCOMMANDS if subcommands is None else subcommands:
        module_name, _, attribute = spec.partition(":")
        getattr(importlib.import_module(module_name), attribute or "add_subcommands")(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except OperatorFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
