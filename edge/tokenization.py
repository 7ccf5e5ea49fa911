"""Tokenize with the artifact's ``tokenizer.json`` (Rust ``tokenizers``, no transformers).

The tokenizer's own settings do the work: its post-processor adds the model's special
tokens (``[CLS] … [SEP]``, ``<s> … </s>``), its truncation cuts a long text to
``max_tokens`` *including* them (so a truncated text still ends with the model's end
token), and its padding configuration names the model's pad token. ``optimize`` writes
both settings into the artifact's tokenizer.json; nothing here knows any token by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from edge.exceptions import ArtifactError, InputLimitError

if TYPE_CHECKING:
    from tokenizers import Encoding

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Encoded:
    """Token ids of one text (or one text pair), unpadded; ``truncated`` says whether
    max_tokens cut it. ``type_ids`` are the segment ids (0 / 1 for a pair's halves)."""

    ids: I64
    truncated: bool
    type_ids: I64 | None = None


class TextTokenizer:
    def __init__(self, path: Path, *, max_tokens: int, truncate: bool) -> None:
        self._tok = Tokenizer.from_file(str(path))
        padding = self._tok.padding
        if padding is None:
            raise ArtifactError(
                f"{path} configures no padding, so its pad token is unknown; rebuild the "
                "artifact with `precast optimize` (it records the model's pad token)"
            )
        self.pad_id = int(padding["pad_id"])
        self.pad_token = str(padding["pad_token"])
        self._tok.no_padding()  # batches are padded per bucket, with pad_id (edge.model)
        self._tok.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens
        self.truncate = truncate

    def token_to_id(self, token: str) -> int | None:
        found = self._tok.token_to_id(token)
        return None if found is None else int(found)

    def encode(self, texts: list[str]) -> list[Encoded]:
        return self._checked(self._tok.encode_batch(texts), pair=False)

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[Encoded]:
        """(query, passage) pairs as one sequence each, the longest half cut first."""
        return self._checked(self._tok.encode_batch(list(pairs)), pair=True)

    def _checked(self, encodings: list[Encoding], *, pair: bool) -> list[Encoded]:
        out: list[Encoded] = []
        for i, enc in enumerate(encodings):
            truncated = bool(enc.overflowing)
            if truncated and not self.truncate:
                actual = self._untruncated_length(enc, pair=pair)
                raise InputLimitError(
                    f"inputs[{i}] is {actual} tokens; the limit is "
                    f"max_tokens={self.max_tokens} and this model rejects longer inputs",
                    limit="max_tokens",
                    allowed=self.max_tokens,
                    actual=actual,
                    index=i,
                )
            out.append(
                Encoded(
                    ids=np.asarray(enc.ids, dtype=np.int64),
                    truncated=truncated,
                    type_ids=np.asarray(enc.type_ids, dtype=np.int64),
                )
            )
        return out

    def _untruncated_length(self, enc: Encoding, *, pair: bool) -> int:
        """The text's full length: each overflow piece repeats the special tokens."""
        specials = int(self._tok.num_special_tokens_to_add(pair))
        return len(enc.ids) + sum(len(o.ids) - specials for o in enc.overflowing)
