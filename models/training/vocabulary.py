"""Vocabulary trimming: keep the word-embedding rows of the pieces that the languages in use need.

XLM-R's 250,002-piece embedding is most of a small encoder (96M of multilingual-e5-small's 118M parameters);
a student deployed for a few languages needs a fraction of it. Kept: the special tokens, every piece the
given texts tokenise into, and every single-character piece (15,397 of XLM-R's), so that text outside the
kept languages is re-segmented into characters by the same Unigram model instead of becoming <unk>. Row order
follows the old ids, so <s>, <pad>, </s>, <unk> keep ids 0-3 and the sequence layout is unchanged.
"""

from __future__ import annotations

import json

from models.errors import UserError

METASPACE = "\u2581"


def kept_piece_ids(tokenizer, texts: list[str]) -> list[int]:
    """Old ids to keep, ascending: specials, single characters, and what `texts` tokenise into."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if state["model"]["type"] != "Unigram":
        raise UserError(f"--trim-vocab handles Unigram (sentencepiece) tokenizers such as XLM-R's, not "
                        f"{state['model']['type']}")
    vocab = state["model"]["vocab"]
    keep = {t["id"] for t in state["added_tokens"]} | {state["model"]["unk_id"]}
    keep |= {i for i, (piece, _) in enumerate(vocab) if len(piece.replace(METASPACE, "")) <= 1}
    for start in range(0, len(texts), 1000):
        for ids in tokenizer(texts[start:start + 1000], add_special_tokens=False)["input_ids"]:
            keep.update(ids)
    return sorted(keep)


def trim_vocabulary(model, tokenizer, texts: list[str]):
    """(model, tokenizer) whose vocabulary is `kept_piece_ids(tokenizer, texts)`; the model is changed in place."""
    import torch
    from tokenizers import Tokenizer

    kept = kept_piece_ids(tokenizer, texts)
    new_id = {old: new for new, old in enumerate(kept)}
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state["model"]["vocab"] = [state["model"]["vocab"][i] for i in kept]
    state["model"]["unk_id"] = new_id[state["model"]["unk_id"]]
    for token in state["added_tokens"]:
        token["id"] = new_id[token["id"]]
    for special in (state.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    for key in ("sep", "cls"):  # RobertaProcessing's form of the same ids
        if key in (state.get("post_processor") or {}):
            state["post_processor"][key][1] = new_id[state["post_processor"][key][1]]

    embeddings = model.get_input_embeddings()
    trimmed = torch.nn.Embedding(len(kept), embeddings.embedding_dim, padding_idx=new_id.get(model.config.pad_token_id))
    trimmed.weight.data = embeddings.weight.data[torch.tensor(kept)].clone()
    trimmed.weight.requires_grad_(embeddings.weight.requires_grad)
    model.set_input_embeddings(trimmed)
    model.config.vocab_size = len(kept)
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if getattr(model.config, attr, None) is not None:
            setattr(model.config, attr, new_id[getattr(model.config, attr)])

    specials = {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
    new_tokenizer = type(tokenizer)(tokenizer_object=Tokenizer.from_str(json.dumps(state)), **specials,
                                            model_max_length=tokenizer.model_max_length)
    return model, new_tokenizer, len(kept)
