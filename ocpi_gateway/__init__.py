"""OCPI 2.2.1 CPO gateway bridging eMSP reservations and commands to OCPP chargers."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The one place the version is written is pyproject.toml; this reads what was installed.
    __version__ = version("ocpi-gateway")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
