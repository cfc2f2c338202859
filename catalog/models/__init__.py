from .apiservices import APIService, Backend, Policy, Route
from .customers import Customer, Subscription
from .gateways import Gateway, Listener
from .products import Product
from .tenants import Tenant

__all__ = [
    "APIService",
    "Backend",
    "Customer",
    "Gateway",
    "Listener",
    "Policy",
    "Product",
    "Route",
    "Subscription",
    "Tenant",
]
