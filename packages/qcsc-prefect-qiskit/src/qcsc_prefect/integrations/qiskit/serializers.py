"""A Prefect result serializer that persists Qiskit results in Qiskit Runtime's own JSON format.

``result_serializer="qiskit-runtime-json"`` stores a task's return value (typically the
:class:`~qcsc_prefect.integrations.qiskit.jobs.FetchOutput` dictionary holding a native
``PrimitiveResult``) as ``json.dumps(obj, cls=RuntimeEncoder)``, compressed with zlib and
base64-encoded (Prefect embeds the value in a JSON record, so it must be ASCII). Unlike pickle,
this format is the one IBM's service itself uses for results, so it loads across qiskit and
qiskit-ibm-runtime versions.

Prefect looks serializers up by their ``type`` string; the class registers itself when it is
defined, so **any process that reads such a record must import this module** (the package
``__init__`` does).

What happens when a record cannot be loaded (verified with Prefect 3.8.8, default storage
layout where metadata and value share one file): :meth:`QiskitRuntimeJSONSerializer.loads`
raises :class:`~qcsc_prefect.integrations.qiskit.errors.ResultCacheError`; Prefect's
``ResultStore.exists()`` treats any read error as "no record", so the cache lookup is a miss,
the task body runs again and the record is overwritten. For the fetch task that means fetching
the job again by its id: exactly the desired recovery. (With a separate ``key_storage`` the
task would fail instead.)
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import zlib
from typing import Any, Final, Literal

from prefect.serializers import Serializer
from pydantic import Field

from .errors import ResultCacheError

#: Name of the payload format written inside the compressed JSON.
FORMAT_NAME: Final = "qcsc-qiskit-runtime-json"

#: Version of the payload envelope; loads rejects unknown versions with ResultCacheError.
FORMAT_VERSION: Final = 1

_JOB_REFERENCE_TYPE: Final = "qcsc.JobReference"
_BIT_ARRAY_TYPE: Final = "qcsc.BitArray.planes"


def _compress_planes(planes: Any) -> bytes:
    """Compress byte planes into one zlib stream, one deflate block (Huffman table) each."""
    compressor = zlib.compressobj(6)
    chunks = []
    for plane in planes:
        chunks.append(compressor.compress(plane.tobytes()))
        chunks.append(compressor.flush(zlib.Z_FULL_FLUSH))
    chunks.append(compressor.flush())
    return b"".join(chunks)


def _encode_bit_array(bits: Any) -> dict[str, Any]:
    """Encode a ``BitArray`` as byte planes, compressed plane by plane.

    Planes are all first bytes of every shot, then all second bytes, ...: the zero-padded top
    byte then costs only its real entropy, which ``RuntimeEncoder``'s zlib(npy) does not reach
    (~8 % smaller for random 20-bit outcomes).
    """
    import numpy as np  # deferred, like the whole codec (see _codec)

    planes = np.ascontiguousarray(np.moveaxis(bits.array, -1, 0))
    return {
        "__type__": _BIT_ARRAY_TYPE,
        "__value__": {
            "num_bits": bits.num_bits,
            "shape": list(bits.array.shape),
            "planes": base64.b64encode(_compress_planes(planes)).decode(),
        },
    }


def _decode_bit_array(value: dict[str, Any]) -> Any:
    """Rebuild the ``BitArray`` `_encode_bit_array` wrote."""
    import numpy as np  # deferred, like the whole codec (see _codec)
    from qiskit.primitives.containers import BitArray

    shape = tuple(value["shape"])
    raw = zlib.decompress(base64.b64decode(value["planes"]))
    planes = np.frombuffer(raw, dtype=np.uint8).reshape((shape[-1], *shape[:-1]))
    return BitArray(np.ascontiguousarray(np.moveaxis(planes, 0, -1)), value["num_bits"])


@functools.cache
def _codec() -> tuple[type[json.JSONEncoder], type[json.JSONDecoder]]:
    """Build the encoder/decoder pair on first use.

    Deferred on purpose: importing this module (which registers the serializer with Prefect)
    must stay cheap, so qiskit and qiskit-ibm-runtime are imported only when a result is
    actually written or read.
    """
    import numpy as np
    from qiskit.primitives.containers import BitArray
    from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder

    from .jobs import JobReference

    class Encoder(RuntimeEncoder):  # type: ignore[misc]  # untyped upstream base class
        """``RuntimeEncoder`` plus job references and any numpy scalar."""

        def default(self, obj: Any) -> Any:
            if isinstance(obj, BitArray):
                return _encode_bit_array(obj)
            if isinstance(obj, JobReference):
                return {"__type__": _JOB_REFERENCE_TYPE, "__value__": obj.model_dump(mode="json")}
            if isinstance(obj, np.generic) and not isinstance(obj, np.int64 | np.float64):
                return obj.item()
            return super().default(obj)

    class Decoder(RuntimeDecoder):  # type: ignore[misc]  # untyped upstream base class
        """``RuntimeDecoder`` plus job references."""

        def object_hook(self, obj: Any) -> Any:
            kind = obj.get("__type__")
            if kind == _BIT_ARRAY_TYPE:
                return _decode_bit_array(obj["__value__"])
            if kind == _JOB_REFERENCE_TYPE:
                return JobReference.model_validate(obj["__value__"])
            return super().object_hook(obj)

    return Encoder, Decoder


class QiskitRuntimeJSONSerializer(Serializer):
    """Serialize task results with Qiskit Runtime's JSON encoder, zlib-compressed.

    Handles everything ``RuntimeEncoder`` does (``PrimitiveResult``, ``BitArray``, ``DataBin``,
    numpy arrays, execution spans, datetimes, ...) plus ``JobReference`` and numpy scalars.
    Tuples come back as lists, as with any JSON.

    Example:
        ```python
        fetch_qiskit_job_result_task.with_options(
            cache_key_fn=qiskit_result_fetch_cache_key,
            persist_result=True,
            result_serializer="qiskit-runtime-json",
        )
        ```
    """

    type: Literal["qiskit-runtime-json"] = "qiskit-runtime-json"
    compression_level: int = Field(
        default=6, ge=0, le=9, description="zlib compression level (0: none, 9: smallest)."
    )

    def dumps(self, obj: Any) -> bytes:
        """Encode ``obj`` as compressed, base64-encoded Runtime JSON.

        Args:
            obj: The value to persist, e.g. the fetch task's output dictionary.

        Returns:
            ASCII bytes.

        Raises:
            TypeError: ``obj`` holds a value ``RuntimeEncoder`` cannot encode.
        """
        envelope = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "payload": obj}
        try:
            text = json.dumps(envelope, cls=_codec()[0], separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the {self.type} serializer cannot encode this {type(obj).__name__}: {exc}. "
                "Persist Qiskit results, JobReference and JSON-compatible values only."
            ) from exc
        return base64.b64encode(zlib.compress(text.encode(), self.compression_level))

    def loads(self, blob: bytes) -> Any:
        """Decode a value written by :meth:`dumps`.

        Args:
            blob: The bytes Prefect read from the result record.

        Returns:
            The original value, with Qiskit objects rebuilt by ``RuntimeDecoder``.

        Raises:
            ResultCacheError: The data is not a readable record of this format (corrupted,
                truncated, another serializer's data, or an unknown format version).
        """
        try:
            text = zlib.decompress(base64.b64decode(blob, validate=True)).decode()
        except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise ResultCacheError(
                f"the persisted result is not readable {self.type} data "
                f"(corrupted or written by another serializer): {exc}"
            ) from exc
        try:
            envelope = json.loads(text, cls=_codec()[1])
        except Exception as exc:  # RuntimeDecoder can raise nearly anything on bad input
            raise ResultCacheError(
                f"the persisted result could not be decoded as Qiskit Runtime JSON: {exc}"
            ) from exc
        if (
            not isinstance(envelope, dict)
            or envelope.get("format") != FORMAT_NAME
            or "payload" not in envelope
        ):
            raise ResultCacheError(f"the persisted result is not a {FORMAT_NAME} record.")
        if envelope.get("version") != FORMAT_VERSION:
            raise ResultCacheError(
                f"the persisted result has {FORMAT_NAME} version {envelope.get('version')!r}; "
                f"this library reads version {FORMAT_VERSION}; Prefect treats it as a cache miss."
            )
        return envelope["payload"]


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "QiskitRuntimeJSONSerializer"]
