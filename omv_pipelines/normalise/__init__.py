"""Mapping engine and validation: source-shaped table → schema table + rejected rows with reasons."""

from omv_pipelines.normalise.config import GeometryMapping, Mapping
from omv_pipelines.normalise.engine import MappingError, NormaliseResult, normalise

__all__ = ["GeometryMapping", "Mapping", "MappingError", "NormaliseResult", "normalise"]
