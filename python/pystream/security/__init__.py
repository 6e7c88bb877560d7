"""Security that is not the wire: listeners, TLS contexts, principals, SASL
mechanisms, credentials, the ACL authorizer and quotas.

Module map:

* `listeners`  — ``listeners``/``advertised.listeners``/protocol map/inter-broker listener
* `tls`        — ssl.SSLContext from Kafka's ``ssl.*`` keys (PEM stores only)
* `principal`  — KafkaPrincipal, certificate subject DNs, ``ssl.principal.mapping.rules``
* `scram`, `sasl` — SCRAM-SHA-256/512 and PLAIN as server/client state machines; JAAS parsing
* `acl`, `authorizer` — Kafka's ACL model and the AclAuthorizer decision
* `quotas`     — byte-rate and request quotas (sampled rates, throttle times), connection limits
* `stores`     — where ACLs and entity configs (SCRAM credentials, quotas) live: files on one
                 broker; the cluster layer implements the same interfaces over ZooKeeper
* `client`     — how pystream's own clients (CLI, replica fetchers) connect to a secured listener
* `manager`    — SecurityManager: all of the above for one broker, from its configuration

The wire side (SaslHandshake/SaslAuthenticate per connection, TLS on the
socket, authorization checks in the handlers) is in `pystream.server`.
This package imports only `pystream.errors`.
"""
