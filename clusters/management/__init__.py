"""Management commands of the physical layer."""
