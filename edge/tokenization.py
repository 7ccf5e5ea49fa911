"""Tokenize once with the artifact's ``tokenizer.json`` (Rust ``tokenizers``, no transformers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from edge.exceptions import InputLimitError


@dataclass(frozen=True)
class Encoded:
    """Token ids of one text, unpadded; ``truncated`` says whether max_tokens cut it."""

    ids: npt.NDArray[np.int64]
    truncated: bool


class TextTokenizer:
    def __init__(self, path: Path, *, max_tokens: int, truncate: bool) -> None:
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        # Encode without truncation so we can tell how long a text really is; cut ourselves.
        self._tok.no_truncation()
        self.max_tokens = max_tokens
        self.truncate = truncate
        pad = self._tok.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        sep = self._tok.token_to_id("[SEP]")
        self.sep_id = sep

    def encode(self, texts: list[str]) -> list[Encoded]:
        encodings = self._tok.encode_batch(texts)
        out: list[Encoded] = []
        for i, enc in enumerate(encodings):
            ids = np.asarray(enc.ids, dtype=np.int64)
            truncated = False
            if len(ids) > self.max_tokens:
                if not self.truncate:
                    raise InputLimitError(
                        f"inputs[{i}] is {len(ids)} tokens; the limit is "
                        f"max_tokens={self.max_tokens} and this model rejects longer inputs",
                        limit="max_tokens",
                        allowed=self.max_tokens,
                        actual=len(ids),
                        index=i,
                    )
                ids = ids[: self.max_tokens].copy()
                if self.sep_id is not None:
                    ids[-1] = self.sep_id  # keep the [SEP] a BERT-style model was trained with
                truncated = True
            out.append(Encoded(ids=ids, truncated=truncated))
        return out
