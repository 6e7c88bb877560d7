"""Configs: DescribeConfigs, AlterConfigs (legacy, replaces a resource's whole set) and IncrementalAlterConfigs.

Resources are topics (overrides kept by the LogManager) and brokers: this
broker's id (its dynamic per-broker configs) or "" (the cluster-wide dynamic
default). Values, sources, synonyms, read-only flags and documentation follow
Kafka's DescribeConfigs (ZooKeeper mode); refusals follow its AlterConfigs:
INVALID_CONFIG naming the key and why, INVALID_REQUEST for a request Kafka
refuses as such.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import RESOURCE_BROKER, RESOURCE_TOPIC, ApiGroup, Handler
from pystream.server.broker import Broker
from pystream.server.config import BROKER_CONFIGS, BrokerConfig, ConfigSource, parse_dynamic
from pystream.server.dynamic_config import DEFAULT_ENTITY
from pystream.storage.config_def import ConfigKey, ConfigType, InvalidConfigError, UpdateMode
from pystream.storage.topic_config import TOPIC_CONFIGS, normalize_topic_config

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3  # IncrementalAlterConfigs operations
# A resource's new raw configs from its current ones (Kafka's strings).
Change = Callable[[dict[str, str]], dict[str, str]]


class _Refused(Exception):
    """A resource's request refused with `code` and a message."""

    def __init__(self, code: ErrorCode, message: str | None) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def documentation(spec: ConfigKey) -> str:
    """What DescribeConfigs says of a key: Kafka's meaning, then what pystream does differently."""
    return f"{spec.doc} [pystream: {spec.note}]" if spec.note else spec.doc


def _entry(spec: ConfigKey, value: Any, source: int, synonyms: list[tuple[str, Any, int]], *, read_only: bool,
           include_synonyms: bool, include_documentation: bool) -> dict[str, Any]:
    hide = spec.sensitive
    return {
        "name": spec.name,
        "value": None if hide else spec.format(value),
        "read_only": read_only,
        "is_default": source == ConfigSource.DEFAULT_CONFIG,
        "config_source": source,
        "is_sensitive": hide,
        "synonyms": [{"name": n, "value": None if hide else _spec(n).format(v), "source": s} for n, v, s in synonyms]
        if include_synonyms else [],
        "config_type": int(spec.type),
        "documentation": documentation(spec) if include_documentation else None,
    }


def _spec(name: str) -> ConfigKey:
    return TOPIC_CONFIGS.get(name) or BROKER_CONFIGS[name]


def topic_config_entries(config: BrokerConfig, overrides: Mapping[str, Any], effective: Mapping[str, Any],
                         keys: Iterable[str] | None = None, *, include_synonyms: bool = False,
                         include_documentation: bool = False) -> list[dict[str, Any]]:
    """A topic's configs as DescribeConfigs shows them: the override (TOPIC_CONFIG) or the broker's
    synonym (dynamic, static) or Kafka's default, with their synonyms."""
    wanted = None if keys is None else set(keys)
    out = []
    for name in sorted(TOPIC_CONFIGS):
        if wanted is not None and name not in wanted:
            continue
        spec = TOPIC_CONFIGS[name]
        synonyms = ([(name, overrides[name], ConfigSource.TOPIC_CONFIG)] if name in overrides else []) + config.topic_synonyms(name)
        source = synonyms[0][2] if synonyms else ConfigSource.DEFAULT_CONFIG
        out.append(_entry(spec, effective[name], source, synonyms, read_only=False, include_synonyms=include_synonyms,
                          include_documentation=include_documentation))
    return out


def broker_config_entries(config: BrokerConfig, *, cluster_default: bool, keys: Iterable[str] | None = None,
                          include_synonyms: bool = False, include_documentation: bool = False) -> list[dict[str, Any]]:
    """A broker resource's configs: every broker config for this broker's id; only the dynamic
    cluster-wide defaults for the resource "" (Kafka's behaviour)."""
    wanted = None if keys is None else set(keys)
    names = sorted(config.dynamic_default if cluster_default else BROKER_CONFIGS)
    out = []
    for name in names:
        if wanted is not None and name not in wanted:
            continue
        spec = BROKER_CONFIGS[name]
        synonyms = config.synonyms(name, default_only=cluster_default)
        source = synonyms[0][2] if synonyms else ConfigSource.DEFAULT_CONFIG
        value = config.dynamic_default[name] if cluster_default else config.own_value(name)[0]
        out.append(_entry(spec, value, source, synonyms, read_only=spec.mode is UpdateMode.READ_ONLY,
                          include_synonyms=include_synonyms, include_documentation=include_documentation))
    return out


def _as_list(spec: ConfigKey, value: Any) -> list[str]:
    return list(spec.parse(value) or []) if value is not None else list(spec.default or [])


class ConfigApis(ApiGroup):
    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self._broker_alter = asyncio.Lock()  # dynamic broker config changes read-modify-write one at a time

    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.DESCRIBE_CONFIGS: self.describe_configs,
            ApiKey.ALTER_CONFIGS: self.alter_configs,
            ApiKey.INCREMENTAL_ALTER_CONFIGS: self.incremental_alter_configs,
        }

    # ----- DescribeConfigs -------------------------------------------------------------

    async def describe_configs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        opts = {"include_synonyms": bool(req.get("include_synonyms")), "include_documentation": bool(req.get("include_documentation"))}
        results = []
        for r in req["resources"]:
            rt, name, keys = r["resource_type"], r["resource_name"], r.get("configuration_keys")
            res: dict[str, Any] = {"error_code": 0, "error_message": None, "resource_type": rt, "resource_name": name, "configs": []}
            try:
                self._authorize(rt, name, AclOperation.DESCRIBE_CONFIGS)
                if rt == RESOURCE_TOPIC:
                    self._check_topic(name)
                    res["configs"] = topic_config_entries(b.config, b.store.topic_config(name), b.topic_config(name), keys, **opts)
                elif rt == RESOURCE_BROKER:
                    entity = self._broker_entity(name)
                    res["configs"] = broker_config_entries(b.config, cluster_default=entity == DEFAULT_ENTITY, keys=keys, **opts)
                else:
                    raise _Refused(ErrorCode.INVALID_REQUEST, f"resource type {rt} is not supported (topics and brokers are)")
            except _Refused as e:
                res["error_code"], res["error_message"] = int(e.code), e.message
            results.append(res)
        return {"throttle_time_ms": 0, "results": results}

    def _authorize(self, resource_type: int, name: str, op: AclOperation) -> None:
        """DescribeConfigs / AlterConfigs need `op` on the topic, or on the cluster for a broker."""
        if resource_type == RESOURCE_TOPIC and not self.authorize(op, ResourceType.TOPIC, name):
            raise _Refused(ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)
        if resource_type == RESOURCE_BROKER and not self.authorize(op, ResourceType.CLUSTER, CLUSTER_NAME):
            raise _Refused(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)

    def _check_topic(self, name: str) -> None:
        if not self.broker.topic_exists(name) or name not in self.broker.store.list_topics(include_internal=True):
            raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name!r}")

    def _broker_entity(self, name: str) -> str:
        """The dynamic config entity of a broker resource name: "<default>" for "", else this broker's id."""
        if name == "":
            return DEFAULT_ENTITY
        if not name.strip().lstrip("-").isdigit() or int(name) != self.broker.node_id:
            raise _Refused(ErrorCode.INVALID_REQUEST,
                           f"Unexpected broker id, expected {self.broker.node_id} or empty string, but received {name}")
        return str(self.broker.node_id)

    # ----- AlterConfigs and IncrementalAlterConfigs -------------------------------------

    async def alter_configs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        """Legacy AlterConfigs: the given configs become the resource's whole set (others are removed)."""
        out = []
        for r in req["resources"]:
            configs = [(c["name"], c["value"]) for c in r["configs"]]
            out.append(await self._alter(r, lambda current, cs=configs: self._replace(cs), bool(req.get("validate_only"))))
        return {"throttle_time_ms": 0, "responses": out}

    async def incremental_alter_configs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        out = []
        for r in req["resources"]:
            ops = [(c["name"], c["config_operation"], c["value"]) for c in r["configs"]]
            out.append(await self._alter(r, lambda current, ops=ops: self._apply_ops(current, ops), bool(req.get("validate_only"))))
        return {"throttle_time_ms": 0, "responses": out}

    async def _alter(self, r: dict[str, Any], change: Change, validate_only: bool) -> dict[str, Any]:
        """One resource of an alter request: `change(current raw configs)` gives the new raw set."""
        rt, name = r["resource_type"], r["resource_name"]
        res = {"error_code": 0, "error_message": None, "resource_type": rt, "resource_name": name}
        names = [c["name"] for c in r["configs"]]
        try:
            if len(set(names)) != len(names):
                raise _Refused(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
            self._authorize(rt, name, AclOperation.ALTER_CONFIGS)
            if rt == RESOURCE_TOPIC:
                await self._alter_topic(name, change, validate_only)
            elif rt == RESOURCE_BROKER:
                async with self._broker_alter:
                    await self._alter_broker(name, change, validate_only)
            else:
                raise _Refused(ErrorCode.INVALID_REQUEST, f"resource type {rt} is not supported (topics and brokers are)")
        except InvalidConfigError as e:
            res["error_code"], res["error_message"] = int(ErrorCode.INVALID_CONFIG), str(e)
        except _Refused as e:
            res["error_code"], res["error_message"] = int(e.code), e.message
        return res

    async def _alter_topic(self, name: str, change: Change, validate_only: bool) -> None:
        b = self.broker
        self._check_topic(name)
        current = {k: TOPIC_CONFIGS[k].format(v) for k, v in b.store.topic_config(name).items()}
        new = change(current)
        typed = normalize_topic_config(new, remote_storage_system=b.store.remote_storage_system)
        if not validate_only:  # the difference, as Kafka's strings (None: removed)
            changes: dict[str, Any] = {k: None for k in current if k not in typed}
            changes.update({k: TOPIC_CONFIGS[k].format(v) for k, v in typed.items() if current.get(k) != TOPIC_CONFIGS[k].format(v)})
            if changes:
                await b.alter_topic_config(name, changes)

    async def _alter_broker(self, name: str, change: Change, validate_only: bool) -> None:
        b = self.broker
        entity = self._broker_entity(name)
        per_broker = entity != DEFAULT_ENTITY
        current = b.config.dynamic_broker if per_broker else b.config.dynamic_default
        new = change({k: BROKER_CONFIGS[k].format(v) for k, v in current.items()})
        typed = {}
        for key, raw in new.items():
            typed[key] = parse_dynamic(key, raw, per_broker=per_broker)
            if BROKER_CONFIGS[key].sensitive:
                raise InvalidConfigError(f"Cannot update {key} dynamically: dynamic password configs need "
                                         f"password.encoder.secret, which pystream does not support")
        trial = dataclasses.replace(b.config, **{"dynamic_broker" if per_broker else "dynamic_default": typed})
        trial.topic_defaults()  # the topics' defaults stay valid (Kafka's LogConfig checks)
        if not validate_only:
            await b.save_dynamic_configs(entity, {k: str(v).strip() for k, v in new.items()})

    @staticmethod
    def _replace(configs: list[tuple[str, str | None]]) -> dict[str, str]:
        return {k: v for k, v in configs if v is not None}

    @staticmethod
    def _apply_ops(current: dict[str, str], ops: list[tuple[str, int, str | None]]) -> dict[str, str]:
        new = dict(current)
        for key, op, value in ops:
            spec = TOPIC_CONFIGS.get(key) or BROKER_CONFIGS.get(key)
            if op == SET:
                if value is None:
                    raise InvalidConfigError(f"Null value not supported for: {key}")
                new[key] = value
            elif op == DELETE:
                new.pop(key, None)
            elif op in (APPEND, SUBTRACT):
                if spec is None:
                    new[key] = value or ""  # the validation that follows names the unknown key
                    continue
                if spec.type is not ConfigType.LIST:
                    word = "append" if op == APPEND else "subtract"
                    raise InvalidConfigError(f"Config value {word} is not allowed for config key: {key} (not a list)")
                items = _as_list(spec, new.get(key))
                given = _as_list(spec, value or "")
                if op == APPEND:
                    items += [x for x in given if x not in items]
                else:
                    items = [x for x in items if x not in given]
                new[key] = ",".join(items)
            else:
                raise _Refused(ErrorCode.INVALID_REQUEST, f"unknown config operation {op} for {key}")
        return new
