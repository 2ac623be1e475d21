"""Packing of metric points into the binary columns of ``metric_chunks``.

Steps and timestamps are little-endian int64, values little-endian float64 (IEEE 754, so NaN
and infinities survive). Packing is done with :mod:`array`, at C speed, without numpy.
"""

from __future__ import annotations

import sys
from array import array

from heron.core.errors import InvalidArgument

_SWAP = sys.byteorder != "little"


def _pack(typecode: str, items: list, what: str, key: str) -> bytes:
    try:
        packed = array(typecode, items)
    except OverflowError:
        raise InvalidArgument(f"Metric {key!r}: a {what} does not fit in 64 bits.") from None
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode: str, blob: bytes) -> array:
    unpacked = array(typecode)
    unpacked.frombytes(blob)
    if _SWAP:
        unpacked.byteswap()
    return unpacked


def pack_series(
    key: str, steps: list[int], timestamps: list[int], values: list[float]
) -> tuple[bytes, bytes, bytes]:
    """The three blobs of one chunk."""
    return (
        _pack("q", steps, "step", key),
        _pack("q", timestamps, "timestamp", key),
        _pack("d", values, "value", key),
    )


def unpack_series(steps: bytes, timestamps: bytes, values: bytes) -> tuple[array, array, array]:
    """The steps, timestamps and values of one chunk."""
    return _unpack("q", steps), _unpack("q", timestamps), _unpack("d", values)
