"""Kafka wire protocol: one schema per message (generated from Kafka's JSON), one generic codec.

Message objects are plain dicts keyed by snake_case field names (Kafka's
"TopicName" -> "topic_name", "ApiKey" -> "api_key"); nested structs are dicts
and arrays are lists. Conventions:

- Encoding: a missing key takes the field's default (the JSON "default", else
  0 / False / "" / b"" / [] / zero UUID / all-default struct). Keys that are
  not fields of the encoded version (including typos) are ignored. None is
  allowed only where the version makes the field nullable.
- Decoding: every field of the schema is present in the result, including
  fields absent from the decoded version (set to their default), so handlers
  can read `body["x"]` whatever the version.
- Types: ints/bools/floats as Python values; strings as str; bytes as bytes;
  uuid as uuid.UUID (bytes of length 16 also accepted on encode); `records`
  as a zero-copy memoryview into the frame on decode, and on encode any
  bytes-like object or a list of chunks (chunks of >= ZERO_COPY_THRESHOLD
  bytes, and non-bytes-like chunks with a len(), are passed through as their
  own buffers, never copied).
- Unknown tagged fields are kept under "_unknown_tagged_fields" ({tag: bytes})
  and re-encoded as is.
- Encoders return lists of buffers (write them with writelines/sendmsg);
  `join()` concatenates them.

Regenerate the schema after updating Kafka's JSON with
`python tools/gen_protocol_schema.py <kafka>/clients/src/main/resources/common/message`.
"""

from pystream.protocol.codec import (
    SUPPORTED_VERSIONS,
    ZERO_COPY_THRESHOLD,
    ProtocolError,
    RequestHeader,
    UnknownApiKeyError,
    UnsupportedVersionError,
    api_versions_entries,
    decode_message,
    decode_request,
    decode_response,
    encode_message,
    encode_request,
    encode_response,
    get_message,
    is_flexible,
    join,
    peek_correlation_id,
    peek_request_header,
    request_header_version,
    response_header_version,
)
from pystream.protocol.schema import Field, Message
from pystream.protocol.schema_data import ApiKey

__all__ = [
    "SUPPORTED_VERSIONS",
    "ZERO_COPY_THRESHOLD",
    "ApiKey",
    "Field",
    "Message",
    "ProtocolError",
    "RequestHeader",
    "UnknownApiKeyError",
    "UnsupportedVersionError",
    "api_versions_entries",
    "decode_message",
    "decode_request",
    "decode_response",
    "encode_message",
    "encode_request",
    "encode_response",
    "get_message",
    "is_flexible",
    "join",
    "peek_correlation_id",
    "peek_request_header",
    "request_header_version",
    "response_header_version",
]
