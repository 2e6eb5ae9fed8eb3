"""Webhooks: HTTP ingress for provider callbacks (delivery and call status, the voice menu, keypad input,
inbound SMS, email one-click unsubscribe), turned into outcome, consent, promise and reply events."""
