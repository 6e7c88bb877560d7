"""SASL (SaslHandshake, SaslAuthenticate), ACLs (Describe/Create/DeleteAcls),
SCRAM users (Describe/AlterUserScramCredentials, KIP-554) and client quotas
(Describe/AlterClientQuotas, KIP-546).

The SASL handlers drive the connection's `Authenticator` (AUTHENTICATOR, set
per connection; None on a listener without SASL, where both answer
ILLEGAL_SASL_STATE as Kafka does). The administrative APIs check Cluster
permissions (Describe / Alter; DescribeConfigs / AlterConfigs for quotas) and
write through the security stores off the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

from pystream.errors import AuthenticationError
from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import (
    CLUSTER_NAME,
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from pystream.security.quotas import QUOTA_KEYS
from pystream.security.scram import MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, mechanism_id, mechanism_name
from pystream.security.stores import EntityKey, entity_key
from pystream.server.apis.common import ApiGroup, Handler
from pystream.server.authenticator import Authenticator, SaslState

T = TypeVar("T")

# The SASL state of the connection being served (None: the listener has no SASL).
AUTHENTICATOR: contextvars.ContextVar[Authenticator | None] = contextvars.ContextVar("authenticator", default=None)

_NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _enum(cls: type[T], value: int) -> T | None:
    try:
        return cls(value)  # type: ignore[call-arg]
    except ValueError:
        return None


class SecurityApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.SASL_HANDSHAKE: self.sasl_handshake,
            ApiKey.SASL_AUTHENTICATE: self.sasl_authenticate,
            ApiKey.DESCRIBE_ACLS: self.describe_acls,
            ApiKey.CREATE_ACLS: self.create_acls,
            ApiKey.DELETE_ACLS: self.delete_acls,
            ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: self.describe_user_scram_credentials,
            ApiKey.ALTER_USER_SCRAM_CREDENTIALS: self.alter_user_scram_credentials,
            ApiKey.DESCRIBE_CLIENT_QUOTAS: self.describe_client_quotas,
            ApiKey.ALTER_CLIENT_QUOTAS: self.alter_client_quotas,
        }

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """Store writes (files with fsync, ZooKeeper round trips) run in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _cluster_allowed(self, op: AclOperation) -> bool:
        return self.authorize(op, ResourceType.CLUSTER, CLUSTER_NAME)

    # ----- SASL ---------------------------------------------------------------------------

    async def sasl_handshake(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        auth = AUTHENTICATOR.get()
        if auth is None:
            return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
        return auth.handshake(req.get("mechanism") or "", hdr.api_version)

    async def sasl_authenticate(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        auth = AUTHENTICATOR.get()
        resp: dict[str, Any] = {"error_code": 0, "error_message": None, "auth_bytes": b"", "session_lifetime_ms": 0}
        if auth is None or auth.state != SaslState.AUTHENTICATE:
            resp["error_code"] = ErrorCode.ILLEGAL_SASL_STATE
            resp["error_message"] = ("SaslAuthenticate request received after successful authentication"
                                     if auth is None or auth.authenticated else "SaslAuthenticate before SaslHandshake")
            if auth is not None and not auth.authenticated:
                auth.close_after_response = True
            return resp
        token = bytes(req.get("auth_bytes") or b"")
        try:
            if auth.server is not None and auth.server.mechanism == "PLAIN":
                # PLAIN may be checked against a SCRAM credential: PBKDF2, off the loop.
                out, done = await asyncio.to_thread(auth.evaluate, token)
            else:
                out, done = auth.evaluate(token)
        except AuthenticationError as e:
            resp["error_code"], resp["error_message"] = ErrorCode.SASL_AUTHENTICATION_FAILED, str(e)
            return resp
        resp["auth_bytes"] = out
        resp["session_lifetime_ms"] = auth.session_lifetime_ms if done else 0
        return resp

    # ----- ACLs ---------------------------------------------------------------------------

    def _acl_refusal(self, op: AclOperation) -> tuple[ErrorCode, str] | None:
        if self.broker.security.authorizer is None:
            return ErrorCode.SECURITY_DISABLED, _NO_AUTHORIZER
        if not self._cluster_allowed(op):
            return ErrorCode.CLUSTER_AUTHORIZATION_FAILED, f"{op.name} on the cluster is not allowed"
        return None

    @staticmethod
    def _filter(f: dict[str, Any]) -> AclBindingFilter | None:
        rt, pt = _enum(ResourceType, f["resource_type_filter"]), _enum(PatternType, f.get("pattern_type_filter", 3))
        op, perm = _enum(AclOperation, f["operation"]), _enum(AclPermissionType, f["permission_type"])
        if rt is None or pt is None or op is None or perm is None:
            return None
        flt = AclBindingFilter(rt, f.get("resource_name_filter"), pt, f.get("principal_filter"), f.get("host_filter"), op, perm)
        return None if flt.validate() else flt

    async def describe_acls(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp: dict[str, Any] = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "resources": []}
        refusal = self._acl_refusal(AclOperation.DESCRIBE)
        flt = self._filter(req)
        if refusal is None and flt is None:
            refusal = ErrorCode.INVALID_REQUEST, "invalid ACL filter"
        if refusal is not None:
            resp["error_code"], resp["error_message"] = refusal
            return resp
        assert self.broker.security.authorizer is not None and flt is not None
        by_pattern: dict[ResourcePattern, list[AccessControlEntry]] = {}
        for b in self.broker.security.authorizer.acls(flt):
            by_pattern.setdefault(b.pattern, []).append(b.entry)
        resp["resources"] = [
            {"resource_type": int(p.resource_type), "resource_name": p.name, "pattern_type": int(p.pattern_type),
             "acls": [{"principal": e.principal, "host": e.host, "operation": int(e.operation),
                       "permission_type": int(e.permission)} for e in entries]}
            for p, entries in by_pattern.items()]
        return resp

    async def create_acls(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        refusal = self._acl_refusal(AclOperation.ALTER)
        results: list[dict[str, Any]] = []
        valid: list[AclBinding] = []
        for c in req["creations"]:
            err: tuple[ErrorCode, str | None] = refusal or (ErrorCode.NONE, None)
            if refusal is None:
                rt, pt = _enum(ResourceType, c["resource_type"]), _enum(PatternType, c.get("resource_pattern_type", 3))
                op, perm = _enum(AclOperation, c["operation"]), _enum(AclPermissionType, c["permission_type"])
                if rt is None or pt is None or op is None or perm is None:
                    err = ErrorCode.INVALID_REQUEST, "unknown resource type, pattern type, operation or permission code"
                else:
                    b = AclBinding(ResourcePattern(rt, c["resource_name"], pt), AccessControlEntry(c["principal"], c["host"], op, perm))
                    why = b.validate()
                    if why is not None:
                        err = ErrorCode.INVALID_REQUEST, why
                    else:
                        valid.append(b)
            results.append({"error_code": int(err[0]), "error_message": err[1]})
        if valid:
            authorizer = self.broker.security.authorizer
            assert authorizer is not None
            try:
                await self._off_loop(authorizer.create, valid)
            except Exception as e:  # the store failed (disk, ZooKeeper): nothing was acknowledged
                for r in results:
                    if r["error_code"] == 0:
                        r["error_code"], r["error_message"] = ErrorCode.UNKNOWN_SERVER_ERROR, f"storing the ACLs failed: {e}"
        return {"throttle_time_ms": 0, "results": results}

    async def delete_acls(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        refusal = self._acl_refusal(AclOperation.ALTER)
        filters = [self._filter(f) for f in req["filters"]]
        out: list[dict[str, Any]] = []
        valid = [f for f in filters if f is not None]
        matched: list[list[AclBinding]] = []
        error: str | None = None
        if refusal is None and valid:
            authorizer = self.broker.security.authorizer
            assert authorizer is not None
            try:
                matched = await self._off_loop(authorizer.delete, valid)
            except Exception as e:
                error = f"deleting the ACLs failed: {e}"
        it = iter(matched)
        for f in filters:
            if refusal is not None:
                out.append({"error_code": int(refusal[0]), "error_message": refusal[1], "matching_acls": []})
            elif f is None:
                out.append({"error_code": ErrorCode.INVALID_REQUEST, "error_message": "invalid ACL filter", "matching_acls": []})
            elif error is not None:
                out.append({"error_code": ErrorCode.UNKNOWN_SERVER_ERROR, "error_message": error, "matching_acls": []})
            else:
                out.append({"error_code": 0, "error_message": None, "matching_acls": [
                    {"error_code": 0, "error_message": None, "resource_type": int(b.pattern.resource_type),
                     "resource_name": b.pattern.name, "pattern_type": int(b.pattern.pattern_type), "principal": b.entry.principal,
                     "host": b.entry.host, "operation": int(b.entry.operation), "permission_type": int(b.entry.permission)}
                    for b in next(it)]})
        return {"throttle_time_ms": 0, "filter_results": out}

    # ----- SCRAM credentials (KIP-554) -------------------------------------------------

    def _scram_users(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for key, config in self.broker.security.entities.items():
            if len(key) == 1 and key[0][0] == "user" and key[0][1] is not None:
                creds = {k: v for k, v in config.items() if k.startswith("SCRAM-")}
                if creds:
                    out[key[0][1]] = creds
        return out

    async def describe_user_scram_credentials(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp: dict[str, Any] = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "results": []}
        if not self._cluster_allowed(AclOperation.DESCRIBE):
            resp["error_code"], resp["error_message"] = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "DESCRIBE on the cluster is not allowed"
            return resp
        users = self._scram_users()
        asked = [u["name"] for u in req.get("users") or []]
        names = asked or sorted(users)
        for name in names:
            res: dict[str, Any] = {"user": name, "error_code": 0, "error_message": None, "credential_infos": []}
            if asked.count(name) > 1:
                res["error_code"] = ErrorCode.DUPLICATE_RESOURCE
                res["error_message"] = "Cannot describe SCRAM credentials for the same user twice in a single request"
            elif name not in users:
                res["error_code"], res["error_message"] = ErrorCode.RESOURCE_NOT_FOUND, "Attempt to describe a user credential that does not exist"
            else:
                for mech, raw in sorted(users[name].items()):
                    try:
                        res["credential_infos"].append({"mechanism": mechanism_id(mech), "iterations": ScramCredential.from_kafka(raw).iterations})
                    except ValueError:
                        continue
            if res not in resp["results"]:
                resp["results"].append(res)
        return resp

    async def alter_user_scram_credentials(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        allowed = self._cluster_allowed(AclOperation.ALTER)
        users = self._scram_users()
        errors: dict[str, tuple[ErrorCode, str]] = {}
        changes: dict[str, dict[str, str | None]] = {}
        seen: set[tuple[str, int]] = set()
        ops = [(d, None) for d in req.get("deletions", [])] + [(u, u) for u in req.get("upsertions", [])]
        for op, upsert in ops:
            name, mech_id = op["name"], op["mechanism"]
            if name in errors:
                continue
            if not allowed:
                errors[name] = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "ALTER on the cluster is not allowed"
                continue
            if not name:
                errors[name] = ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
                continue
            if (name, mech_id) in seen:
                errors[name] = ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"
                continue
            seen.add((name, mech_id))
            try:
                mech = mechanism_name(mech_id)
            except ValueError as e:
                errors[name] = ErrorCode.UNSUPPORTED_SASL_MECHANISM, str(e)
                continue
            if upsert is None:
                if mech not in users.get(name, {}):
                    errors[name] = ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"
                    continue
                changes.setdefault(name, {})[mech] = None
                continue
            iterations = upsert["iterations"]
            if iterations < MIN_ITERATIONS:
                errors[name] = ErrorCode.UNACCEPTABLE_CREDENTIAL, f"Too few iterations (minimum {MIN_ITERATIONS})"
            elif iterations > MAX_ITERATIONS:
                errors[name] = ErrorCode.UNACCEPTABLE_CREDENTIAL, f"Too many iterations (maximum {MAX_ITERATIONS})"
            elif not upsert["salt"] or not upsert["salted_password"]:
                errors[name] = ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salt and salted password must not be empty"
            else:
                cred = ScramCredential.from_salted_password(mech, bytes(upsert["salted_password"]), bytes(upsert["salt"]), iterations)
                changes.setdefault(name, {})[mech] = cred.to_kafka()
        apply: dict[EntityKey, dict[str, str | None]] = {
            entity_key([("user", name)]): c for name, c in changes.items() if name not in errors}
        if apply:
            try:
                await self._off_loop(self.broker.security.entity_store.alter, apply)
                await self._off_loop(self.broker.security.reload_entities)
            except Exception as e:
                for key in apply:
                    errors[str(key[0][1])] = ErrorCode.UNKNOWN_SERVER_ERROR, f"storing the credentials failed: {e}"
        names = list(dict.fromkeys(op["name"] for op, _ in ops))
        return {"throttle_time_ms": 0, "results": [
            {"user": n, "error_code": int(errors[n][0]) if n in errors else 0, "error_message": errors[n][1] if n in errors else None}
            for n in names]}

    # ----- client quotas (KIP-546) -------------------------------------------------------

    async def describe_client_quotas(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp: dict[str, Any] = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "entries": []}
        if not self._cluster_allowed(AclOperation.DESCRIBE_CONFIGS):
            resp["error_code"], resp["error_message"] = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "DESCRIBE_CONFIGS on the cluster is not allowed"
            resp["entries"] = None
            return resp
        components = req.get("components", [])
        wanted: dict[str, tuple[int, str | None]] = {}
        for c in components:
            if c["entity_type"] not in ("user", "client-id") or c["match_type"] not in (0, 1, 2) or c["entity_type"] in wanted:
                resp["error_code"] = ErrorCode.INVALID_REQUEST
                resp["error_message"] = f"invalid filter component {c['entity_type']!r} (user or client-id, each once)"
                resp["entries"] = None
                return resp
            wanted[c["entity_type"]] = (c["match_type"], c.get("match"))
        for key, config in sorted(self.broker.security.entities.items(), key=repr):
            values = [{"key": k, "value": float(v)} for k, v in sorted(config.items()) if k in QUOTA_KEYS]
            if not values:
                continue
            parts = dict(key)
            if req.get("strict") and set(parts) != set(wanted):
                continue
            ok = True
            for kind, (match_type, match) in wanted.items():
                if kind not in parts:
                    ok = False
                elif match_type == 0:
                    ok = ok and parts[kind] == match
                elif match_type == 1:
                    ok = ok and parts[kind] is None
                else:
                    ok = ok and parts[kind] is not None
            if ok:
                resp["entries"].append({"entity": [{"entity_type": k, "entity_name": n} for k, n in key], "values": values})
        return resp

    async def alter_client_quotas(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        allowed = self._cluster_allowed(AclOperation.ALTER_CONFIGS)
        results: list[dict[str, Any]] = []
        apply: dict[EntityKey, dict[str, str | None]] = {}
        for entry in req["entries"]:
            entity = [{"entity_type": e["entity_type"], "entity_name": e.get("entity_name")} for e in entry["entity"]]
            res: dict[str, Any] = {"error_code": 0, "error_message": None, "entity": entity}
            results.append(res)
            if not allowed:
                res["error_code"], res["error_message"] = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "ALTER_CONFIGS on the cluster is not allowed"
                continue
            try:
                key = entity_key((e["entity_type"], e.get("entity_name")) for e in entry["entity"])
            except ValueError as e:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, str(e)
                continue
            updates: dict[str, str | None] = {}
            for op in entry["ops"]:
                if op["key"] not in QUOTA_KEYS:
                    res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, f"unknown quota key {op['key']!r} ({', '.join(QUOTA_KEYS)})"
                    break
                if op["remove"]:
                    updates[op["key"]] = None
                elif not op["value"] > 0:
                    res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, f"{op['key']} must be positive, got {op['value']}"
                    break
                else:
                    v = op["value"]
                    updates[op["key"]] = str(int(v)) if float(v).is_integer() else repr(v)
            if res["error_code"] == 0 and not req.get("validate_only"):
                apply.setdefault(key, {}).update(updates)
        if apply:
            try:
                await self._off_loop(self.broker.security.entity_store.alter, apply)
                await self._off_loop(self.broker.security.reload_entities)
            except Exception as e:
                for r in results:
                    if r["error_code"] == 0:
                        r["error_code"], r["error_message"] = ErrorCode.UNKNOWN_SERVER_ERROR, f"storing the quotas failed: {e}"
        return {"throttle_time_ms": 0, "entries": results}
