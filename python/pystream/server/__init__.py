"""The Kafka-compatible broker: `pystream serve`."""
