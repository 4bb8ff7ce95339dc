"""Connector standards (as Locations and the policy name them: ``IEC_62196_T2``...) in the
terms of OCPP 2.0.1's ConnectorEnumType, for a ReserveNow of a whole charging station that
names the connector type to keep free (H01 S3, ``connectorType``).

Type 2 exists as a socket and as a cable; OCPP tells them apart (``sType2`` / ``cType2``),
so its format must be known. A standard OCPP has no value for gives None: the charger is then
told no type, as before.
"""

from __future__ import annotations

_BY_STANDARD: dict[str, str] = {
    "CHADEMO": "cG105",
    "CHAOJI": "cChaoJi",
    "DOMESTIC_E": "sCEE-7-7",
    "DOMESTIC_F": "sCEE-7-7",
    "DOMESTIC_G": "sBS1361",
    "GBT_AC": "cGBT",
    "GBT_DC": "cGBT",
    "IEC_60309_2_single_16": "s309-1P-16A",
    "IEC_60309_2_three_16": "s309-3P-16A",
    "IEC_60309_2_three_32": "s309-3P-32A",
    "IEC_62196_T1": "cType1",
    "IEC_62196_T1_COMBO": "cCCS1",
    "IEC_62196_T2_COMBO": "cCCS2",
    "IEC_62196_T3A": "sType3",
    "IEC_62196_T3C": "sType3",
    "PANTOGRAPH_BOTTOM_UP": "Pan",
    "PANTOGRAPH_TOP_DOWN": "Pan",
    "TESLA_R": "cTesla",
    "TESLA_S": "cTesla",
}
_TYPE_2 = {"CABLE": "cType2", "SOCKET": "sType2"}


def ocpp201_connector_type(standard: str, connector_format: str | None = None) -> str | None:
    """The ConnectorEnumType of ``standard`` (with its ``connector_format``, CABLE or
    SOCKET), or None when OCPP 2.0.1 has none for it."""
    if standard == "IEC_62196_T2":
        return _TYPE_2.get((connector_format or "").upper())
    return _BY_STANDARD.get(standard)
