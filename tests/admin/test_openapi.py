"""The OpenAPI document is generated from the operation table and its models, valid, served
to a logged-in operator, and shown on a page whose Swagger UI files come from the installed
package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openapi_spec_validator import validate
from swagger_ui_bundle import swagger_ui_path

from ocpi_gateway.admin.api import operations
from ocpi_gateway.admin.api.openapi import openapi_document
from tests.admin.support import AdminClient
from tests.peers.gateway import RunningGateway

MakeClient = Callable[..., AdminClient]


def test_the_document_is_valid_openapi_and_lists_every_operation() -> None:
    document = openapi_document(operations(), title="t", version="1")
    validate(document)  # raises on an invalid document
    listed = {(method.upper(), path) for path, item in document["paths"].items()
              for method in item}
    assert listed == {(op.method, op.path) for op in operations()}


def test_each_operation_documents_its_models_and_guards() -> None:
    document = openapi_document(operations(), title="t", version="1")
    login = document["paths"]["/admin/api/session"]["post"]
    assert login["security"] == []
    assert login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginBody"}
    assert set(document["components"]["schemas"]["LoginBody"]["required"]) == {
        "name", "password"}
    reload = document["paths"]["/admin/reload"]["post"]
    assert reload["x-required-role"] == "operator"
    assert {"401", "403", "503"} <= set(reload["responses"])
    assert any(p["name"] == "X-CSRF-Token" for p in reload["parameters"])


async def test_the_document_is_served_to_operators_only(gateway: RunningGateway,
                                                        new_client: MakeClient) -> None:
    anonymous = new_client()
    assert (await anonymous.raw("GET", "/admin/api/openapi.json")).status == 401
    viewer = new_client()
    await viewer.login("victor")
    served = await viewer.call("GET", "/admin/api/openapi.json")
    assert served.status == 200
    assert served.body == openapi_document(operations(), title="OCPI gateway admin API",
                                           version=served.body["info"]["version"],
                                           server_url=gateway.url)


async def test_the_page_serves_swagger_ui_from_the_installed_package(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    client = new_client()
    async with client.http.get(gateway.url + "/admin/api/docs") as page:
        assert page.status == 200 and page.content_type == "text/html"
        html = await page.text()
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "/admin/api/docs/assets/swagger-ui-bundle.js" in html
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        async with client.http.get(f"{gateway.url}/admin/api/docs/assets/{name}") as asset:
            assert asset.status == 200
            assert await asset.read() == (Path(str(swagger_ui_path)) / name).read_bytes()
    async with client.http.get(gateway.url + "/admin/api/docs/assets/..%2Fgateway.db") as bad:
        assert bad.status == 404
    async with client.http.get(gateway.url + "/admin/api/docs/init.js") as script:
        assert "/admin/api/openapi.json" in await script.text()
