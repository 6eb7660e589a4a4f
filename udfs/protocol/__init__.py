"""Kapacitor's UDF wire protocol: schema, framing, agent loop and transports.

This layer knows protobuf and nothing about detectors.
"""

from __future__ import annotations

from enum import IntEnum

from udfs.protocol import udf_pb2
from udfs.protocol.agent import Agent
from udfs.protocol.dispatch import Dispatcher, Failure, Handler, Intake, Outbox, PeerClosedError
from udfs.protocol.fields import set_field
from udfs.protocol.framing import (
    FrameDecoder,
    FrameError,
    TruncatedFrameError,
    encode_frame,
    encode_point_response,
    encode_varint,
    split_frames,
)

__all__ = [
    "Agent",
    "Dispatcher",
    "EdgeType",
    "Failure",
    "FrameDecoder",
    "FrameError",
    "Handler",
    "Intake",
    "Outbox",
    "PeerClosedError",
    "TruncatedFrameError",
    "ValueType",
    "encode_frame",
    "encode_point_response",
    "encode_varint",
    "set_field",
    "split_frames",
    "udf_pb2",
]


class EdgeType(IntEnum):
    """What a UDF wants from and provides to Kapacitor (wire values)."""

    STREAM = udf_pb2.STREAM
    BATCH = udf_pb2.BATCH


class ValueType(IntEnum):
    """Type of a TICKscript option value (wire values)."""

    BOOL = udf_pb2.BOOL
    INT = udf_pb2.INT
    DOUBLE = udf_pb2.DOUBLE
    STRING = udf_pb2.STRING
    DURATION = udf_pb2.DURATION
