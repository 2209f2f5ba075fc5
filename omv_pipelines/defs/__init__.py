"""Dagster wiring: partitions, resources, the per-dataset asset factory, checks, jobs, schedules, sensors.

Everything here is thin: asset bodies call the catalogue, sources, mapping engine and publishers.
"""
