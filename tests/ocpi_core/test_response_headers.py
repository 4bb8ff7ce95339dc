"""The routing headers of an answer: the request's routing swapped, never shared between
answers (a caller that adds to its copy must not change the next request's)."""

from __future__ import annotations

from ocpi_gateway.transport.context import Party, Routing
from ocpi_gateway.transport.routing import response_headers

ROUTING = Routing(sender=Party("DE", "ABC"), receiver=Party("NL", "EXA"))


def test_the_answer_goes_from_the_receiver_back_to_the_sender() -> None:
    assert response_headers(ROUTING) == {
        "OCPI-from-country-code": "NL", "OCPI-from-party-id": "EXA",
        "OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"}


def test_an_absent_side_gives_no_headers_of_its_own() -> None:
    assert response_headers(Routing(sender=None, receiver=Party("NL", "EXA"))) == {
        "OCPI-from-country-code": "NL", "OCPI-from-party-id": "EXA"}
    assert response_headers(Routing(sender=Party("DE", "ABC"), receiver=None)) == {
        "OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"}


def test_a_caller_changing_its_headers_does_not_change_the_next_answers() -> None:
    first = response_headers(ROUTING)
    first["OCPI-to-party-id"] = "XYZ"
    first["X-Extra"] = "1"
    del first["OCPI-from-country-code"]
    assert response_headers(ROUTING) == {
        "OCPI-from-country-code": "NL", "OCPI-from-party-id": "EXA",
        "OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"}
    assert response_headers(ROUTING) is not response_headers(ROUTING)
