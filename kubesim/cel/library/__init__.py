"""The CEL libraries the Kubernetes API server enables for CRD validation rules, one module
each as k8s.io/apiserver pkg/cel/library splits them (lists, regex, url, ip, cidr, quantity,
format) plus standard CEL and the cel-go extensions Kubernetes turns on (strings, sets,
encoders, optionals); the compiler looks functions and methods up in the merged tables."""

from ..overloads import Overload, merge
from . import (
              cidr,
              encoders,
              format,
              ip,
              lists,
              optionals,
              quantity,
              regex,
              sets,
              standard,
              strings,
              url,
)

_LIBRARIES = (standard, strings, regex, lists, sets, encoders, optionals, ip, cidr, url,
              quantity, format)

# Global functions and receiver-style methods, by name.
FUNCTIONS: dict[str, Overload] = merge(*(getattr(m, "FUNCTIONS", {}) for m in _LIBRARIES))
METHODS: dict[str, Overload] = merge(*(getattr(m, "METHODS", {}) for m in _LIBRARIES))

__all__ = ["FUNCTIONS", "METHODS"]
