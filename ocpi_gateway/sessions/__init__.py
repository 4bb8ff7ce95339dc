"""Minimal OCPI session records kept from OCPP transactions (what STOP_SESSION needs)."""
