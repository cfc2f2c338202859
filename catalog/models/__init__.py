from .apiservices import APIService, Backend, Policy, Route
from .customers import Customer, Subscription
from .gateways import Gateway, Listener
from .keys import APIKey
from .products import Product
from .tenants import Tenant

__all__ = [
    "APIKey",
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
