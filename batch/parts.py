"""Output parts: rows of ``{id, model_version, embedding}`` as JSONL or Parquet bytes.

Each part is written in one atomic step (see :mod:`batch.storage`). JSONL floats are the
shortest text that reads back to the same float32 (formatted by Arrow in C++: Python's
float repr would cost more than the inference of short texts). Parquet stores
``embedding`` as ``fixed_size_list<float32>[dim]`` and ``id`` as int64 when every id of
the part is an integer, else as string.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from batch.exceptions import BatchError
from batch.settings import OUTPUT_FORMATS

F32 = npt.NDArray[np.float32]
__all__ = ["OUTPUT_FORMATS", "decode_part", "encode_part", "require_pyarrow"]
_SLICE = 1024  # rows formatted per Arrow call: bounded memory, far from 2 GiB offsets


def require_pyarrow() -> None:
    """Import pyarrow up front (it formats every part), with an install hint if missing."""
    try:
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:  # pragma: no cover - the batch extra and image install it
        raise BatchError(
            "the batch job needs pyarrow: `pip install 'precast[batch]'` (or `pip install pyarrow`)"
        ) from None


def encode_part(fmt: str, ids: Sequence[str | int], vectors: F32, model_version: str) -> bytes:
    if fmt == "parquet":
        return _encode_parquet(ids, vectors, model_version)
    return b"".join(
        _encode_jsonl(ids[i : i + _SLICE], vectors[i : i + _SLICE], model_version)
        for i in range(0, len(ids), _SLICE)
    )


def decode_part(fmt: str, data: bytes) -> tuple[list[Any], F32]:
    """``(ids, vectors)`` of a part, in row order (used to recover an interrupted commit)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        ids = table.column("id").to_pylist()
        emb = table.column("embedding").combine_chunks()
        dim = emb.type.list_size
        flat = emb.flatten().to_numpy(zero_copy_only=False)
        return ids, np.asarray(flat, dtype=np.float32).reshape(len(ids), dim)
    rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    if not rows:
        return [], np.empty((0, 0), dtype=np.float32)
    vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
    return [r["id"] for r in rows], vectors


def _encode_jsonl(ids: Sequence[str | int], vectors: F32, model_version: str) -> bytes:
    if not len(ids):
        return b""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, dim = vectors.shape
    values = pc.cast(pa.array(np.ascontiguousarray(vectors).reshape(-1)), pa.string())
    values = pc.replace_substring_regex(values, "^-0$", "-0.0")  # JSON "-0" parses as int 0
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    floats = pc.binary_join(pa.ListArray.from_arrays(offsets, values), ",")
    version = json.dumps(model_version)
    heads = pa.array(
        [f'{{"id":{json.dumps(i)},"model_version":{version},"embedding":[' for i in ids]
    )
    lines = pc.binary_join_element_wise(heads, floats, pa.scalar("]}\n"), "")
    bounds = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + n + 1]
    data = lines.buffers()[2]
    assert data is not None
    out: bytes = data.to_pybytes()[int(bounds[0]) : int(bounds[-1])]
    return out


def _encode_parquet(ids: Sequence[str | int], vectors: F32, model_version: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
    all_int = bool(ids) and all(isinstance(i, int) for i in ids)
    id_array = pa.array(list(ids), type=pa.int64()) if all_int else pa.array([str(i) for i in ids])
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    table = pa.table(
        {
            "id": id_array if n else pa.array([], type=pa.string()),
            "model_version": pa.array([model_version] * n, type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, max(dim, 1))
            if n
            else pa.array([], type=pa.list_(pa.float32(), max(dim, 1))),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
