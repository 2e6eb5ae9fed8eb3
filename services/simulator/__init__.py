"""A stand-in core banking system and its customers, for the demo and for load."""
