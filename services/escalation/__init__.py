"""Escalation: strategies as data, the case per debtor, contact requests and escalations."""
