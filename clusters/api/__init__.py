"""The agent-facing HTTP API: registration, tokens, desired state, status and heartbeats."""
