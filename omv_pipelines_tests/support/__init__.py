"""Helpers the test packages share, so that each fake (HTTP server, validation) is written once."""
