"""Kafka API handlers, one module per area of the protocol.

`Apis` is the dispatch table the listener uses: API key -> handler. Each
module's `ApiGroup` serves a few related keys (metadata, produce, fetch,
topics, groups, admin, transactions, security); `common.SUPPORTED_VERSIONS` is the one
list of the versions served, which ApiVersions advertises and the listener
enforces.
"""

from __future__ import annotations

from pystream.server.apis.admin import AdminApis
from pystream.server.apis.common import CLIENT_HOST, SESSION, SUPPORTED_VERSIONS, Handler
from pystream.server.apis.configs import ConfigApis
from pystream.server.apis.fetch import FetchApis
from pystream.server.apis.groups import GroupApis
from pystream.server.apis.metadata import MetadataApis
from pystream.server.apis.produce import ProduceApis
from pystream.server.apis.security import SecurityApis
from pystream.server.apis.topics import TopicApis
from pystream.server.apis.transactions import TransactionApis
from pystream.server.broker import Broker

__all__ = ["CLIENT_HOST", "SESSION", "SUPPORTED_VERSIONS", "Apis"]

API_GROUPS = (MetadataApis, ProduceApis, FetchApis, TopicApis, ConfigApis, GroupApis, AdminApis, TransactionApis,
              SecurityApis)


class Apis:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.handlers: dict[int, Handler] = {}
        for group in API_GROUPS:
            self.handlers.update(group(broker).handlers())
        missing = set(SUPPORTED_VERSIONS) - set(self.handlers)
        assert not missing, f"API keys advertised without a handler: {sorted(missing)}"
