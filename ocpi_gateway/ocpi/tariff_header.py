"""The Tariff fields every OCPI version shares, in the form their typed objects take (the
version packages add what differs: prices, limits, ``tax_included``, booking elements)."""

from __future__ import annotations

from ocpi_gateway.tariffs import models
from ocpi_gateway.transport.envelope import ocpi_timestamp


def header(tariff: models.Tariff) -> dict[str, object]:
    """The fields every version shares, as that version's Tariff takes them."""
    assert tariff.country_code and tariff.party_id and tariff.last_updated  # the catalog's
    fields: dict[str, object] = {
        "country_code": tariff.country_code, "party_id": tariff.party_id, "id": tariff.id,
        "currency": tariff.currency, "last_updated": ocpi_timestamp(tariff.last_updated)}
    if tariff.type is not None:
        fields["type"] = tariff.type
    if tariff.tariff_alt_text:
        fields["tariff_alt_text"] = tariff.tariff_alt_text
    if tariff.tariff_alt_url is not None:
        fields["tariff_alt_url"] = tariff.tariff_alt_url
    if tariff.start_date_time is not None:
        fields["start_date_time"] = ocpi_timestamp(tariff.start_date_time)
    if tariff.end_date_time is not None:
        fields["end_date_time"] = ocpi_timestamp(tariff.end_date_time)
    if tariff.energy_mix is not None:
        fields["energy_mix"] = tariff.energy_mix
    return fields
