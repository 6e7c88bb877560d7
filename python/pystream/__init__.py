"""pystream: Kafka-compatible event streaming for Python with a Rust storage core."""
