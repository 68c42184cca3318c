"""Model inputs for timing and parity: synthetic token ids that respect the vocabulary's special and
pad ids, or real text tokenised once, outside the timed path (as MLPerf does)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.checkpoint import Checkpoint


@dataclass(frozen=True)
class TokenSpec:
    n_pieces: int  # ids below this are real pieces (the embedding may have spare rows beyond)
    bos: int
    eos: int
    pad: int
    specials: frozenset[int]

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> "TokenSpec":
        cfg = checkpoint.config
        if checkpoint.has_tokenizer():
            return cls._of_tokenizer(checkpoint, cfg["vocab_size"])
        # XLM-R's conventions (<s>=0, <pad>=1, </s>=2, <unk>=3) when the checkpoint has no tokenizer
        return cls(cfg["vocab_size"], cfg.get("bos_token_id", 0), cfg.get("eos_token_id", 2),
                   cfg.get("pad_token_id", 1), frozenset({0, 1, 2, 3}))

    @classmethod
    def _of_tokenizer(cls, checkpoint: Checkpoint, vocab_size: int) -> "TokenSpec":
        """Read from the tokenizer once per checkpoint version, then from a small cache file: a timing process
        that only needs these five facts is spared loading transformers' tokenizer (about 4 s per process)."""
        import json

        from models.files import cache_root, write_json_atomic

        cached = cache_root() / "token-specs" / f"{checkpoint.fingerprint()}.json"
        try:
            facts = json.loads(cached.read_text())
            return cls(facts["n_pieces"], facts["bos"], facts["eos"], facts["pad"], frozenset(facts["specials"]))
        except (OSError, ValueError, KeyError):
            pass  # not cached yet (or unreadable): ask the tokenizer
        tok = checkpoint.tokenizer()
        bos = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        eos = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        spec = cls(min(len(tok), vocab_size), bos, eos, tok.pad_token_id, frozenset(tok.all_special_ids))
        try:
            write_json_atomic(cached, {"n_pieces": spec.n_pieces, "bos": spec.bos, "eos": spec.eos,
                                       "pad": spec.pad, "specials": sorted(spec.specials)})
        except OSError:
            pass  # a read-only cache costs the next process the tokenizer load, nothing else
        return spec


def synthetic_batch(spec: TokenSpec, batch_size: int, seq_len: int, seed: int = 0,
                    ragged: bool = False) -> dict[str, np.ndarray]:
    """`<s> random pieces </s>` rows. With `ragged`, rows get random lengths and right padding,
    which exercises the attention mask (needed when tracing and when checking parity)."""
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2 (<s> and </s>)")
    rng = np.random.default_rng(seed)
    low = max(i for i in spec.specials if i < 100) + 1 if spec.specials else 4
    ids = rng.integers(low, spec.n_pieces, size=(batch_size, seq_len), dtype=np.int64)
    ids[np.isin(ids, list(spec.specials))] = low
    mask = np.ones((batch_size, seq_len), dtype=np.int64)
    lengths = (rng.integers(2, seq_len + 1, size=batch_size) if ragged else np.full(batch_size, seq_len))
    if ragged:
        lengths[0] = seq_len  # at least one full row, so the padded shape is really used
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1] = spec.bos, spec.eos
        ids[row, n:], mask[row, n:] = spec.pad, 0
    return {"input_ids": ids, "attention_mask": mask}


def text_batch(checkpoint: Checkpoint, texts: list[str], seq_len: int | None = None,
               prefix: str | None = None) -> dict[str, np.ndarray]:
    """Tokenise real text. `seq_len` pads/truncates to a fixed length (timing); None pads to the
    longest text (parity). The checkpoint's `input_prefix` (e5's "query: ") is applied."""
    tok = checkpoint.tokenizer()
    prefix = checkpoint.metadata.get("input_prefix", "") if prefix is None else prefix
    enc = tok([prefix + t for t in texts], padding="max_length" if seq_len else "longest",
              truncation=True, max_length=seq_len or 512, return_tensors="np")
    return {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
