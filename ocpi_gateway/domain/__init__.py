"""Typed domain shared by the OCPI gateway, the OCPP adapter and the reservation policy.

Nothing here knows HTTP, websockets, OCPI or an OCPP message format.
"""
