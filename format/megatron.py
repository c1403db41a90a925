"""Megatron-LM / NeMo indexed datasets (``.bin`` + ``.idx``, "MMIDIDX" version 1): token ids of
whole documents, each followed by ``<|endoftext|>``.

Reads/writes nothing: documents in, bytes out; bytes in, arrays out. The one idea: one sequence
per document, so the index is the same one megatron-core's ``IndexedDatasetBuilder`` writes for
documents added with ``add_item`` + ``end_document``, and its ``IndexedDataset`` reads it.

``.bin``: the documents' token ids, concatenated, little-endian ``int32`` (Qwen's vocabulary of
151,665 ids does not fit ``uint16``). ``.idx``, all little-endian:

=====================  =====================================================================
``b"MMIDIDX\\x00\\x00"``  magic (9 bytes)
``<Q`` 1               version
``<B`` 4               dtype code of the ``.bin`` (4 = int32; megatron-core's ``DType``)
``<Q`` S               number of sequences
``<Q`` D               number of entries of the document index (documents + 1)
``int32[S]``           tokens per sequence
``int64[S]``           byte offset of each sequence in the ``.bin``
``int64[D]``           sequence index where each document starts, then S (``0, 1, ..., S`` here)
=====================  =====================================================================
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
          8: np.uint16}
INT32 = 4


class MegatronFormatError(ValueError):
    """A ``.idx`` that is not a Megatron indexed-dataset index (or disagrees with its ``.bin``)."""


def encode_documents(counter, prompts: Sequence[str], responses: Sequence[str], eot: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(tokens int32, lengths int32) of documents ``prompt + response + <|endoftext|>``: prompt
    and response encoded apart, as the format stage counted them (``n_tokens`` of the sequences
    table is each document's length)."""
    ids = []
    lengths = np.empty(len(prompts), dtype=np.int32)
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        a, b = counter.encode(p), counter.encode(r)
        ids += (a, b, (eot,))
        lengths[i] = len(a) + len(b) + 1
    total = int(lengths.sum(dtype=np.int64))
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=total)
    return tokens, lengths


def index_bytes(lengths: np.ndarray, dtype_code: int = INT32) -> bytes:
    """The ``.idx`` of documents of these lengths (one sequence per document)."""
    lengths = np.asarray(lengths, dtype=np.int32)
    n = len(lengths)
    item = np.dtype(DTYPES[dtype_code]).itemsize
    pointers = np.zeros(n, dtype=np.int64)
    if n:
        pointers[1:] = np.cumsum(lengths[:-1].astype(np.int64)) * item
    docs = np.arange(n + 1, dtype=np.int64)
    head = MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", dtype_code) + struct.pack("<Q", n) + \
        struct.pack("<Q", n + 1)
    return head + lengths.astype("<i4").tobytes() + pointers.astype("<i8").tobytes() + docs.astype("<i8").tobytes()


@dataclass(frozen=True)
class Index:
    dtype: type
    lengths: np.ndarray  # int32 per sequence
    pointers: np.ndarray  # int64 byte offsets
    document_index: np.ndarray  # int64, documents + 1

    @property
    def sequences(self) -> int:
        return len(self.lengths)

    @property
    def documents(self) -> int:
        return len(self.document_index) - 1

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))


def read_index(buf: bytes | memoryview | np.ndarray) -> Index:
    """Parse a ``.idx`` (checked: magic, version, dtype, sizes, contiguous pointers)."""
    mv = memoryview(buf).cast("B")
    if bytes(mv[:9]) != MAGIC:
        raise MegatronFormatError("not a Megatron index (bad magic)")
    (version,) = struct.unpack_from("<Q", mv, 9)
    (code,) = struct.unpack_from("<B", mv, 17)
    s, d = struct.unpack_from("<QQ", mv, 18)
    if version != VERSION or code not in DTYPES:
        raise MegatronFormatError(f"unsupported index version {version} / dtype code {code}")
    off = 34
    need = off + 4 * s + 8 * s + 8 * d
    if len(mv) < need:
        raise MegatronFormatError(f"truncated index: {len(mv)} bytes, header says {need}")
    lengths = np.frombuffer(mv, dtype="<i4", count=s, offset=off)
    pointers = np.frombuffer(mv, dtype="<i8", count=s, offset=off + 4 * s)
    docs = np.frombuffer(mv, dtype="<i8", count=d, offset=off + 12 * s)
    item = np.dtype(DTYPES[code]).itemsize
    expect = np.zeros(s, dtype=np.int64)
    if s:
        expect[1:] = np.cumsum(lengths[:-1].astype(np.int64)) * item
    if not np.array_equal(pointers, expect):
        raise MegatronFormatError("sequence pointers are not contiguous")
    if d == 0 or docs[0] != 0 or docs[-1] != s or np.any(np.diff(docs) < 0):
        raise MegatronFormatError("bad document index")
    return Index(DTYPES[code], lengths, pointers, docs)


def documents(index: Index, data: bytes | memoryview | np.ndarray) -> list[np.ndarray]:
    """The token arrays of every document of a ``.bin`` (``data``: its bytes or a memory map)."""
    arr = np.frombuffer(memoryview(data).cast("B"), dtype=np.dtype(index.dtype).newbyteorder("<"))
    if len(arr) != index.tokens:
        raise MegatronFormatError(f".bin holds {len(arr)} tokens, the index says {index.tokens}")
    ends = np.cumsum(index.lengths.astype(np.int64))
    seqs = np.split(arr, ends[:-1]) if len(ends) else []
    return [np.concatenate(seqs[a:b]) if b - a != 1 else seqs[a]
            for a, b in zip(index.document_index[:-1], index.document_index[1:], strict=True)]
