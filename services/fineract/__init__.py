"""Apache Fineract adapter: reads Fineract's external events (Avro on Kafka) and publishes the platform's
core banking events. The pure half: schemas and decoding (``avro``, ``model``), the loan state (``state``),
the translation (``translate``); the service: the topic's decoder (``records``), the handler (``service``)
on the runtime (``app``); ``encode`` writes Fineract's records, for the bootstrap command and simulators."""
