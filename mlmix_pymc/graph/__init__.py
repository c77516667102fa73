"""Spec -> PyTensor: parameter layout, measurement groups and the likelihood graph."""

from .likelihood import build_loglik
from .params import ParameterLayout
from .structure import GraphStructure, build_structure

__all__ = ["build_loglik", "build_structure", "GraphStructure", "ParameterLayout"]
