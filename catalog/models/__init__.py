from .apiservices import APIService, Backend, Policy, Route
from .gateways import Gateway, Listener
from .products import Product
from .tenants import Tenant

__all__ = [
    "APIService",
    "Backend",
    "Gateway",
    "Listener",
    "Policy",
    "Product",
    "Route",
    "Tenant",
]
