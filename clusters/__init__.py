"""The physical layer: clusters, their agents and the agent-facing API."""
