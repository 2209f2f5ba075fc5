"""One partition per commune, keyed by INS code (never by name)."""

import dagster as dg

communes_partitions = dg.DynamicPartitionsDefinition(name="communes")
