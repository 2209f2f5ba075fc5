"""One partition per commune, keyed by INS code (never by name)."""

import dagster as dg

COMMUNES = "communes"  # the dynamic partitions' name, as the instance stores them
communes_partitions = dg.DynamicPartitionsDefinition(name=COMMUNES)
