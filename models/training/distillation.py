"""The distillation loop: a student learns the teacher's outputs on text it is given.

* encoder / retrieval: mean-squared error between the student's and the teacher's mean-pooled sentence
  embeddings; with parallel text the student matches the teacher's embedding of the English side for both
  sides of the pair (the multilingual sentence-embedding distillation recipe), plus an in-batch contrastive
  term on the same targets (see `losses.in_batch_contrastive`);
* task heads (classification, tagging, QA): KL divergence between temperature-softened logits.
The word embeddings stay frozen: they carry the multilingual vocabulary, are 80% of a small model's weights,
and updating them with a few thousand pairs only hurts the languages the data does not cover.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from models.checkpoint import METADATA_FILE, Checkpoint
from models.errors import UserError
from models.files import build_atomically
from models.training.losses import in_batch_contrastive, mean_pool, softened_kl
from models.training.students import build_student, kept_layers

Pair = tuple[str, str]  # (text the student reads, text whose teacher output is the target)


@dataclass
class DistillSettings:
    """Training settings (the command-line options of `bench distill` are generated from these fields)."""
    steps: int = field(default=1200, metadata={"help": "training steps"})
    batch_size: int = field(default=32, metadata={"help": "texts per step"})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate", "flag": "--lr"})
    max_length: int = field(default=128, metadata={"help": "tokens per text"})
    temperature: float = field(default=2.0, metadata={"help": "softening temperature of the logit KD (heads)"})
    contrastive_weight: float = field(default=1.0, metadata={
        "help": "weight of the in-batch contrastive term for sentence embeddings (0: MSE only)"})
    precision: str = field(default="auto", metadata={
        "help": "student training precision; auto: bf16 autocast where the CPU has bf16 arithmetic",
        "choices": ("auto", "fp32", "bf16")})
    seed: int = field(default=0, metadata={"help": "random seed"})


def resolve_precision(precision: str) -> str:
    """`auto` trains the student under bf16 autocast where the CPU has bf16 arithmetic (AVX-512 BF16 or AMX:
    2.4x faster steps measured here), fp32 elsewhere, where bf16 would be emulated and slower."""
    import torch

    if precision not in ("auto", "fp32", "bf16"):
        raise UserError(f"unknown precision {precision!r}; use auto, fp32 or bf16")
    if precision != "auto":
        return precision
    native = any(getattr(torch.cpu, probe, lambda: False)()
                 for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return "bf16" if native else "fp32"


def distill(teacher_ckpt: Checkpoint, pairs: list[Pair], sources: list[str], layers: int, hidden: int | None,
            settings: DistillSettings, out: Path, name: str, log=lambda m: print(m, file=sys.stderr)) -> Path:
    """Train a `layers`-deep student of `teacher_ckpt` on `pairs` and save it atomically into `out`."""
    import torch
    from tqdm import tqdm

    from models.heads import load_model

    cfg = settings
    head = teacher_ckpt.head
    depth = teacher_ckpt.config["num_hidden_layers"]
    precision = resolve_precision(cfg.precision)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    tok = teacher_ckpt.tokenizer()
    prefix = teacher_ckpt.metadata.get("input_prefix", "")
    kwargs = {"add_pooling_layer": False} if head.name == "encoder" else {}
    teacher = load_model(teacher_ckpt.path, head, **kwargs)
    student = build_student(teacher, layers, hidden)
    if hidden is None:
        for p in student.get_input_embeddings().parameters():
            p.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, cfg.steps // 10)) * max(0.0, 1 - s / cfg.steps))

    def encode(texts):
        return tok([prefix + t for t in texts], truncation=True, max_length=cfg.max_length, padding=True,
                   return_tensors="pt")

    def outputs(model, batch):
        result = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], return_dict=True)
        if head.name == "encoder":
            return mean_pool(result.last_hidden_state, batch["attention_mask"])
        return [getattr(result, n) for n in head.outputs]

    def loss_fn(student_out, teacher_out, targets):
        if head.name != "encoder":
            return softened_kl(student_out, teacher_out, cfg.temperature)
        student_out = student_out.float()  # the loss in fp32 whatever the autocast precision
        loss = torch.nn.functional.mse_loss(student_out, teacher_out)
        if cfg.contrastive_weight:
            loss = loss + cfg.contrastive_weight * in_batch_contrastive(student_out, teacher_out, targets)
        return loss

    embedding_cache: dict[str, torch.Tensor] = {}

    def target_embeddings(texts: list[str]) -> torch.Tensor:
        """The teacher's sentence embeddings, each computed once: with parallel text one English sentence is
        the target of every language's translation, and the teacher's forward pass costs more than the
        student's step, so memoising it buys several times more training steps per minute."""
        missing = list(dict.fromkeys(t for t in texts if t not in embedding_cache))
        if missing:
            embedding_cache.update(zip(missing, outputs(teacher, encode(missing))))
        return torch.stack([embedding_cache[t] for t in texts])

    log(f"distilling {teacher_ckpt.name} ({depth} layers) into {layers} layers on {len(pairs)} texts "
        f"from {', '.join(sources)} ({cfg.steps} steps, student in {precision})")
    losses = []
    student.eval()  # dropout off: the target is a deterministic function, noise only slows the fit
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="distil", file=sys.stderr, dynamic_ncols=True)
    for _ in bar:
        batch_pairs = random.sample(pairs, min(cfg.batch_size, len(pairs)))
        inputs = encode([p[0] for p in batch_pairs])
        with torch.no_grad():
            # retrieval: the teacher's embedding of the English side; heads: the teacher on the same input
            teacher_out = (target_embeddings([p[1] for p in batch_pairs]) if head.name == "encoder"
                           else outputs(teacher, inputs))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            student_out = outputs(student, inputs)
        loss = loss_fn(student_out, teacher_out, [p[1] for p in batch_pairs])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if math.isnan(losses[-1]):
            raise UserError("the distillation loss became NaN; lower --lr")
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.5f}")

    def save(staging: Path) -> None:
        student.save_pretrained(str(staging))
        tok.save_pretrained(str(staging))
        meta = {k: v for k, v in teacher_ckpt.metadata.items() if k in ("head", "labels", "input_prefix",
                                                                          "target_task", "intermediate_task")}
        window = max(1, len(losses) // 10)
        meta.update({
            "name": name, "teacher": teacher_ckpt.name, "teacher_checkpoint": str(teacher_ckpt.path),
            "recipe": (("mse on mean-pooled sentence embeddings (English-side teacher targets for parallel text)"
                        + (f" + {cfg.contrastive_weight} x in-batch contrastive" if cfg.contrastive_weight else ""))
                       if head.name == "encoder" else f"kl on softened logits, temperature {cfg.temperature}"),
            "precision": precision,
            "init": "random (narrower config)" if hidden else f"teacher embeddings + layers {kept_layers(depth, layers)}",
            "layers": layers, "hidden": hidden or teacher.config.hidden_size,
            "retrieval_layer": layers if teacher_ckpt.metadata.get("retrieval_layer") else None,
            "data": sources, "texts": len(pairs), "steps": cfg.steps, "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate, "seed": cfg.seed, "train_seconds": time.perf_counter() - t0,
            "loss_first": sum(losses[:window]) / window, "loss_last": sum(losses[-window:]) / window,
            "losses": losses,
        })
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2))

    return build_atomically(out, save)
