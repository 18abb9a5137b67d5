"""A dead letter as a record for the dead-letter topic: the original key and bytes, the reason
in headers, and never larger than a producer may send.

A record of ~1,010,000 bytes (under the broker's limit once, over the producer's 1,000,000-byte
``max_request_size`` with our headers) made the dead-letter send raise, which stopped the
writer (issue #11.2). So a value that would not fit is cut, a header says so, and the full size
travels in another header; PostgreSQL's ``dead_letters`` row keeps the bytes in full.
"""

from __future__ import annotations

from projections.batch import DeadLetter

# The producer's default max_request_size is 1,048,576 bytes for the whole request; keep a
# margin for the record batch and request framing.
MAX_TOPIC_RECORD_BYTES = 900_000
MAX_KEY_BYTES = 16 * 1024

Headers = list[tuple[str, bytes]]


def topic_record(letter: DeadLetter, source_topic: str) -> tuple[bytes | None, bytes, Headers]:
    record = letter.record
    headers: Headers = [
        ("kretslopp-source-topic", source_topic.encode()),
        ("kretslopp-source-partition", str(record.partition).encode()),
        ("kretslopp-source-offset", str(record.offset).encode()),
        ("kretslopp-reason-kind", letter.kind.encode()),
        ("kretslopp-reason", letter.reason.encode()[:4000]),
    ]
    if letter.field:
        headers.append(("kretslopp-field", letter.field.encode()[:1000]))
    key = record.key
    if key is not None and len(key) > MAX_KEY_BYTES:
        headers.append(("kretslopp-key-truncated-from", str(len(key)).encode()))
        key = key[:MAX_KEY_BYTES]
    value = record.value or b""
    room = MAX_TOPIC_RECORD_BYTES - len(key or b"") - sum(len(k) + len(v) for k, v in headers)
    room -= 200  # the two headers that may follow
    if len(value) > room:
        headers.append(("kretslopp-value-truncated-from", str(len(value)).encode()))
        value = value[:room]
    return key, value, headers
