"""Compliance gatekeeper: the one door every contact passes (policy engine, policy packs, decide command)."""
