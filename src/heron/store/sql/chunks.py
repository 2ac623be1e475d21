"""Packing of metric points into the binary columns of ``metric_chunks``.

Steps and timestamps are little-endian int64, values little-endian float64 (IEEE 754, so NaN
and infinities survive). Packing is done with :mod:`array`, at C speed, without numpy.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable

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


def read_series(rows: Iterable[tuple[bytes, bytes, bytes]]) -> tuple[array, array, array]:
    """The steps, timestamps and values of a metric's chunks (``(steps, timestamps, values)``
    blobs, in the order they were written) in history order: by step, then timestamp, points
    at the same step and timestamp in the order they were logged.

    Histories are nearly always logged in that order already; checking it costs a fraction
    of sorting, so only a history logged out of order is sorted."""
    steps, timestamps, values = array("q"), array("q"), array("d")
    for s, t, v in rows:
        steps.frombytes(s)
        timestamps.frombytes(t)
        values.frombytes(v)
    if _SWAP:
        steps.byteswap()
        timestamps.byteswap()
        values.byteswap()
    if in_order(steps, timestamps):
        return steps, timestamps, values
    pairs = list(zip(steps, timestamps))
    order = sorted(range(len(pairs)), key=pairs.__getitem__)  # stable: ties keep their order
    return (
        array("q", map(steps.__getitem__, order)),
        array("q", map(timestamps.__getitem__, order)),
        array("d", map(values.__getitem__, order)),
    )


def in_order(steps: array, timestamps: array) -> bool:
    """Whether the points are ordered by step, then timestamp (ties allowed)."""
    n = len(steps)
    if n < 2:
        return True
    listed = steps.tolist()
    # sorting sorted data is one comparison per point; the stable sort then keeps every
    # object in place, so the comparison of the lists is by identity
    if sorted(listed) != listed:
        return False
    times = timestamps.tolist()
    if sorted(times) == times:
        return True  # both non-decreasing: so are the (step, timestamp) pairs
    if len(set(listed)) == n:
        return True
    pairs = list(zip(listed, times))
    return sorted(pairs) == pairs
