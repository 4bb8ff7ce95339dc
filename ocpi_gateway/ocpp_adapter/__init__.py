"""CSMS side of OCPP 1.6J and 2.0.1: websocket endpoint, version modules, command routing.

Imports only ``domain``. The app builds one :class:`ocpi_gateway.ocpp_adapter.server.OcppServer`.
"""
