"""The one Kafka runtime every service runs on: clients, a reader, a publisher and the consume loop.

``loop.Runtime`` drives a ``Stage`` (decode → handle → flush → await acks → commit); ``keyed.KeyedStage``
is the stage for pure, keyed-state handlers (escalation, the gatekeeper); the channel workers are a stage
of their own around the send ledger. ``memory.MemoryBroker`` runs the same code without a broker (the
what-if replay, unit tests). See docs/architecture.md.
"""
