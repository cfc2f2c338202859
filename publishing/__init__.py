"""The deployment layer: product publishes, their immutable revisions, deployment status and
the translator from a revision to Kubernetes manifests."""
