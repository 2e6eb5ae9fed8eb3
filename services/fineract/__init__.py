"""Apache Fineract adapter: reads Fineract's external events (Avro on Kafka) and translates them into the
platform's core banking events. This package is the pure half: schemas, decoding, state, translation."""
