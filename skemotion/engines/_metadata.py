"""skemotion's record inside a LiteRT (``.tflite``) flatbuffer, read and written.

A ``.tflite`` file is a FlatBuffer of the TFLite schema; its root ``Model``
table has a ``metadata`` vector of ``(name, buffer index)`` entries, each
naming one of the model's ``buffers``. skemotion stores its record, JSON in
UTF-8, in the entry named :data:`METADATA_NAME`.

Reading needs only the ``flatbuffers`` package (a dependency of both
``ai-edge-litert`` and TensorFlow): the few fields used are read here from
the schema's field numbers, with every offset checked against the file's
length, so a truncated or damaged file is an error, never a crash. Nothing in
the file is run: it is data (the network's operators come from the runtime's
own kernels). Writing goes through the schema module generated for Python,
which ``ai-edge-litert`` ships (TensorFlow's is used where it is missing).
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any, NamedTuple

__all__ = ["METADATA_NAME", "FlatbufferContents", "add_record", "read_flatbuffer"]

#: The metadata entry holding skemotion's record.
METADATA_NAME = "skemotion"
#: The TFLite schema's file identifier, bytes 4 to 8 of every model.
_IDENTIFIER = b"TFL3"
# Field slots (4 + 2 * field number) of the tables read here.
_MODEL_BUFFERS, _MODEL_METADATA = 12, 16
_METADATA_NAME, _METADATA_BUFFER = 4, 6
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 4, 6, 8


class FlatbufferContents(NamedTuple):
    """What :func:`read_flatbuffer` finds in a model's bytes.

    Attributes
    ----------
    metadata : dict of str to bytes
        Each metadata entry's buffer, by name.
    network_sha256 : str
        A sha256 over every buffer but the metadata's (the network's weights
        and constants, in order): :func:`add_record` stores it in the record,
        so a changed byte anywhere in the weights is found on load.
    """

    metadata: dict[str, bytes]
    network_sha256: str


class _Reader:
    """Bounds-checked reads of FlatBuffer tables, vectors and strings."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.data, pos)[0]

    def table(self, pos: int) -> int:
        """The position of the table that the offset at ``pos`` points to."""
        return self._check(pos + self.u32(pos), 4)

    def field(self, table: int, slot: int) -> int:
        """The position of a table's field, or 0 when the field is absent."""
        vtable = self._check(table - struct.unpack_from("<i", self.data, table)[0], 4)
        if slot >= struct.unpack_from("<H", self.data, vtable)[0]:
            return 0
        offset = struct.unpack_from("<H", self.data, vtable + slot)[0]
        return self._check(table + offset, 1) if offset else 0

    def vector(self, pos: int) -> tuple[int, int]:
        """``(start, length)`` of the vector that the offset at ``pos`` points to."""
        start = self._check(pos + self.u32(pos), 4)
        return start + 4, self.u32(start)

    def tables(self, table: int, slot: int) -> list[int]:
        pos = self.field(table, slot)
        if not pos:
            return []
        start, n = self.vector(pos)
        self._check(start, 4 * n)
        return [self.table(start + 4 * i) for i in range(n)]

    def bytes_at(self, table: int, slot: int) -> bytes:
        pos = self.field(table, slot)
        if not pos:
            return b""
        start, n = self.vector(pos)
        return bytes(self.data[self._check(start, n) : start + n])

    def scalar(self, table: int, slot: int, fmt: str) -> int:
        pos = self.field(table, slot)
        return struct.unpack_from(fmt, self.data, pos)[0] if pos else 0

    def _check(self, pos: int, size: int) -> int:
        if pos < 0 or pos + size > len(self.data):
            raise ValueError(
                f"an offset points past the end of the data ({pos + size} > "
                f"{len(self.data)} bytes)"
            )
        return pos


def _buffer(reader: _Reader, table: int) -> bytes:
    offset = reader.scalar(table, _BUFFER_OFFSET, "<Q")
    if offset > 1:  # models over 2 GB keep their buffers after the FlatBuffer
        size = reader.scalar(table, _BUFFER_SIZE, "<Q")
        return bytes(reader.data[reader._check(offset, size) : offset + size])
    return reader.bytes_at(table, _BUFFER_DATA)


def read_flatbuffer(data: bytes) -> FlatbufferContents:
    """The metadata and the network's digest of a ``.tflite`` model's bytes.

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    contents : FlatbufferContents

    Raises
    ------
    ValueError
        If ``data`` is not a TFLite FlatBuffer, or ends before it does.
    """
    if len(data) < 8 or bytes(data[4:8]) != _IDENTIFIER:
        raise ValueError(
            f"not a LiteRT (TFLite) model: no {_IDENTIFIER.decode()} identifier "
            f"(the file starts with {bytes(data[:8])!r})"
        )
    try:
        reader = _Reader(data)
        model = reader.table(0)
        buffers = reader.tables(model, _MODEL_BUFFERS)
        metadata, skip = {}, set()
        for entry in reader.tables(model, _MODEL_METADATA):
            name = reader.bytes_at(entry, _METADATA_NAME).decode("utf-8", "replace")
            index = reader.scalar(entry, _METADATA_BUFFER, "<I")
            if index >= len(buffers):
                raise ValueError(f"metadata {name!r} names a missing buffer {index}")
            metadata[name] = _buffer(reader, buffers[index])
            skip.add(index)
        digest = hashlib.sha256()
        for i, table in enumerate(buffers):
            if i not in skip:
                content = _buffer(reader, table)
                digest.update(struct.pack("<Q", len(content)))
                digest.update(content)
    except struct.error as exc:
        raise ValueError(f"the model ends before its tables do ({exc})") from None
    return FlatbufferContents(metadata, digest.hexdigest())


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # TensorFlow ships the same generated module
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def add_record(data: bytes, record: dict[str, Any]) -> bytes:
    """A model's bytes with ``record`` stored as its skemotion metadata.

    The record gets ``network_sha256`` (see :class:`FlatbufferContents`).

    Parameters
    ----------
    data : bytes
        A ``.tflite`` model, as a converter wrote it.
    record : dict
        JSON-ready.

    Returns
    -------
    data : bytes
        The model with the record (any earlier skemotion record replaced).
    """
    import flatbuffers
    import numpy as np

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    record = {**record, "network_sha256": read_flatbuffer(data).network_sha256}
    payload = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.metadata = list(model.metadata or [])
    earlier = [m for m in model.metadata if _name(m.name) == METADATA_NAME]
    if earlier:  # a record written before: its buffer takes the new one
        model.buffers[earlier[0].buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(data) + len(payload) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


def _name(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
