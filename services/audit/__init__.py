"""``python -m services.audit``: the independent compliance audit of the event log, as its own command."""
