"""The logical layer: tenants, API services with routes, backends and policies, products and
gateway templates."""
