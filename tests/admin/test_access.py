"""Who may use the admin API: attacker tests for every way in (no credentials, a wrong
password, a viewer acting, a cookie without its CSRF token, a storm of wrong logins), and
what an operator's session and token are worth once the operators file changes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocpi_gateway import keys
from ocpi_gateway.admin.api import operations
from ocpi_gateway.admin.api.framework import ACCESS
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.admin.credentials import COLLECTION as CREDENTIALS
from ocpi_gateway.admin.operators import OperatorsSource
from tests.admin.support import PASSWORDS, AdminClient, write_operators
from tests.peers.gateway import RunningGateway

MakeClient = Callable[..., AdminClient]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X", path)


async def test_no_admin_route_answers_without_credentials(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    client = new_client()
    guarded = [op for op in operations() if op.role is not None]
    assert {(op.method, op.path) for op in guarded} >= {
        ("POST", "/admin/reload"), ("GET", "/admin/api/openapi.json")}
    for op in guarded:
        answer = await client.raw(op.method, _concrete(op.path), json={})
        assert answer.status == 401, (op.method, op.path, answer)
        assert answer.body["error"] == "unauthenticated"
    # Nor with a made-up token or cookie.
    client.token = "ogt_made-up"
    assert (await client.raw("GET", "/admin/api/session")).status == 401
    client.token = None
    client.http.cookie_jar.update_cookies({"ocpi_gateway_admin": "made-up"})
    assert (await client.raw("GET", "/admin/api/session")).status == 401


async def test_only_logging_in_and_the_page_shell_are_public(gateway: RunningGateway) -> None:
    public = {(op.method, op.path) for op in operations() if op.role is None}
    assert public == {("POST", "/admin/api/session"), ("POST", "/admin/api/tokens")}
    admin_routes = {(r.method, r.resource.canonical) for r in gateway.app.router.routes()
                    if r.resource is not None and r.resource.canonical.startswith("/admin")}
    documented = {(op.method, op.path) for op in operations()}
    shell = {("GET", "/admin/api/docs"), ("GET", "/admin/api/docs/init.js"),
             ("GET", "/admin/api/docs/assets/{name}")}
    assert admin_routes == documented | shell


async def test_wrong_password_and_unknown_name_are_refused_alike(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    client = new_client()
    wrong = await client.login("alice", "not-her-password")
    unknown = await client.login("mallory", "whatever-password")
    assert (wrong.status, unknown.status) == (401, 401)
    assert wrong.body == unknown.body  # nothing tells a name exists
    assert "Set-Cookie" not in wrong.headers
    assert (await client.raw("GET", "/admin/api/session")).status == 401
    audit = await gateway.app[keys.STORE].find(AUDIT, order_by="at")
    assert [(e["operator"], e["action"], e["outcome"]) for e in audit] == [
        ("alice", "login", "wrong name or password"),
        ("mallory", "login", "wrong name or password")]


async def test_a_viewer_reads_but_may_not_act(gateway: RunningGateway,
                                              new_client: MakeClient) -> None:
    viewer = new_client()
    assert (await viewer.login("victor")).status == 200
    me = await viewer.call("GET", "/admin/api/session")
    assert me.status == 200 and me.body["role"] == "viewer"
    refused = await viewer.call("POST", "/admin/reload")
    assert refused.status == 403 and refused.body["error"] == "forbidden"
    entries = await gateway.app[keys.STORE].find(AUDIT, {"operator": "victor"}, order_by="at")
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("login", "ok"), ("reload_files", "refused: forbidden")]


async def test_a_cookie_alone_does_not_make_an_unsafe_request(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    browser = new_client()
    assert (await browser.login("alice")).status == 200
    # What a page of another site can make the browser send: the cookie, no CSRF token.
    forged = await browser.raw("POST", "/admin/reload", send_csrf=False)
    assert forged.status == 403 and forged.body["error"] == "csrf"
    wrong = await browser.raw("POST", "/admin/reload", send_csrf=False,
                              headers={"X-CSRF-Token": "guessed"})
    assert wrong.status == 403
    other_site = await browser.raw("POST", "/admin/reload",
                                   headers={"Origin": "https://evil.example"})
    assert other_site.status == 403 and "Origin" in other_site.body["message"]
    # The same request with the session's token (and our own Origin) goes through.
    done = await browser.call("POST", "/admin/reload", headers={"Origin": gateway.url})
    assert done.status == 200 and done.body["status_code"] == 1000
    # A login is JSON only: a cross-site form cannot post one.
    async with browser.http.post(gateway.url + "/admin/api/session",
                                 data={"name": "alice", "password": PASSWORDS["alice"]}) as r:
        assert r.status == 415


async def test_a_storm_of_wrong_logins_is_stopped_and_the_operator_still_gets_in(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    alice = new_client(local_addr="127.0.0.2")
    assert (await alice.login("alice")).status == 200  # her address is known from now on
    attacker = new_client()
    answers = await asyncio.gather(*(attacker.login("alice", f"guess-{i}") for i in range(40)))
    statuses = [a.status for a in answers]
    checked = statuses.count(401)
    assert checked <= 5 and statuses.count(429) == 40 - checked, statuses
    assert all(a.headers.get("Retry-After") for a in answers if a.status == 429)
    # The right password from the attacker's address is refused too: no more checks there.
    assert (await attacker.login("alice")).status == 429
    # Alice, from the address she logged in from, is not locked out by them.
    assert (await new_client(local_addr="127.0.0.2").login("alice")).status == 200
    limited = await gateway.app[keys.STORE].count(
        AUDIT, {"operator": "alice", "outcome": "too many failed logins"})
    assert limited == 41 - checked


async def test_a_bearer_token_works_until_revoked_and_is_stored_hashed(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    script = new_client()
    issued = await script.use_token("alice", label="nightly report", expires_in_hours=2)
    assert issued.status == 201 and issued.body["token"].startswith("ogt_")
    token = issued.body["token"]
    me = await script.call("GET", "/admin/api/session")
    assert me.body == {"operator": "alice", "role": "operator", "via": "token",
                       "csrf_token": None, "expires_at": None}
    # A bearer needs no CSRF token: a browser never adds one by itself.
    assert (await script.call("POST", "/admin/reload")).status == 200
    stored = await gateway.app[keys.STORE].find(CREDENTIALS)
    assert stored and all(token not in str(doc) for doc in stored)
    assert (await script.call("DELETE", "/admin/api/tokens/current")).status == 204
    assert (await script.raw("GET", "/admin/api/session")).status == 401
    assert (await new_client().use_token("alice", "wrong-password-1")).status == 401


async def test_the_operators_file_decides_on_every_request(
        gateway: RunningGateway, new_client: MakeClient, tmp_path: Path) -> None:
    path = gateway.settings.operators_file
    assert path is not None
    access = gateway.app[ACCESS]
    access.operators = OperatorsSource(path, check_every=0.0)  # re-read at once, not in 1 s
    alice, victor = new_client(), new_client()
    assert (await alice.login("alice")).status == 200
    assert (await victor.login("victor")).status == 200
    # Victor leaves the file; Alice gets a new password.
    write_operators(path, ("alice",), passwords={"alice": "a-new-password-2"})
    assert (await victor.raw("GET", "/admin/api/session")).status == 401
    assert (await alice.raw("GET", "/admin/api/session")).status == 401
    assert (await new_client().login("alice", "a-new-password-2")).status == 200
    # An invalid file keeps the accounts read before (nobody locked out, nobody let in).
    path.write_text("operators: [{name: alice}]", encoding="utf-8")
    assert (await new_client().login("alice", "a-new-password-2")).status == 200
    assert (await new_client().login("victor")).status == 401


async def test_the_legacy_admin_token_opens_reload_only(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    client = new_client()
    client.token = "legacy-admin-token-1"
    reload = await client.raw("POST", "/admin/reload")
    assert reload.status == 200 and reload.body["status_code"] == 1000
    assert (await client.raw("GET", "/admin/api/session")).status == 401
    entries = await gateway.app[keys.STORE].find(AUDIT, {"action": "reload_files"})
    assert [(e["operator"], e["via"], e["outcome"]) for e in entries] == [
        ("admin_token", "admin_token", "ok")]


async def test_logout_ends_the_session(gateway: RunningGateway,
                                       new_client: MakeClient) -> None:
    browser = new_client()
    await browser.login("alice")
    cookie: Any = next(iter(browser.http.cookie_jar))
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/admin"
    assert (await browser.call("DELETE", "/admin/api/session")).status == 204
    assert (await browser.raw("GET", "/admin/api/session")).status == 401
