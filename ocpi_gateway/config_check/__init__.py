"""Checking the configuration and the operator files together (``ocpi-gateway config check``)."""
