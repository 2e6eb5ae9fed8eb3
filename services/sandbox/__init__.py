"""Provider sandboxes: a Twilio-compatible HTTP server and a local SMTP server for tests and the demo."""
