"""The event contract: what producers send and what every consumer can rely on."""

from events.codec import InvalidEvent, decode, decode_object, encode, key_for, partition_key
from events.models import (
    CURRENT_SCHEMA_VERSION,
    EVENT_TYPES,
    Category,
    Certification,
    CertificationScheme,
    Condition,
    LifecycleEvent,
    Purchased,
    Recycled,
    Redeployed,
    Refurbished,
    Repaired,
    TakeBackChannel,
    TakenBack,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "EVENT_TYPES",
    "Category",
    "Certification",
    "CertificationScheme",
    "Condition",
    "InvalidEvent",
    "LifecycleEvent",
    "Purchased",
    "Recycled",
    "Redeployed",
    "Refurbished",
    "Repaired",
    "TakeBackChannel",
    "TakenBack",
    "decode",
    "decode_object",
    "encode",
    "key_for",
    "partition_key",
]
