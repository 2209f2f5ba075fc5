"""A loopback Opendatasoft portal for tests: `with OdsEmulator() as ods: OdwbClient(ods.url, ods.api_key)`."""

from .server import PUBLISHER_PERMISSIONS, Exchange, Fault, OdsEmulator

__all__ = ["PUBLISHER_PERMISSIONS", "Exchange", "Fault", "OdsEmulator"]
