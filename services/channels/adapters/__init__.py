"""One module per provider behind the ports of ``services.channels.ports``, and an in-memory fake per port."""
