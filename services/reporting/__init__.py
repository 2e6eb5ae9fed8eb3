"""Collection effectiveness, contact histories and an independent compliance audit, all from the event log."""
