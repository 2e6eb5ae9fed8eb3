"""What the messaging services share (the channel workers, the webhooks, the sandboxes): message templates
and their lint, SMS segments, Twilio's statuses and error codes, signed links. Not a service of its own."""
