"""Which broker config keys hold secrets (Kafka's PASSWORD-typed keys): DescribeConfigs
reports them as sensitive, with no value."""

from __future__ import annotations

__all__ = ["is_sensitive"]

_SENSITIVE_SUFFIXES = ("sasl.jaas.config", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
                       "ssl.keystore.key")


def is_sensitive(key: str) -> bool:
    """True for secrets, with or without a ``listener.name.<l>.[<mechanism>.]`` prefix."""
    return key.endswith(_SENSITIVE_SUFFIXES)
