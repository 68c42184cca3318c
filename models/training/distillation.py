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

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from models.checkpoint import METADATA_FILE, Checkpoint
from models.errors import UserError
from models.files import build_atomically, cache_root
from models.taskdata.distillation_text import Pair  # (text the student reads, text whose teacher output is the target)
from models.training.losses import in_batch_contrastive, masked_softened_kl, mean_pool
from models.training.students import build_student, kept_layers
from models.training.resumable import (StepBudget, TrainingState, restore_random, run_identity, texts_digest,
                                       weight_files)
from models.training.vocabulary import trim_vocabulary


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
    max_minutes: float | None = field(default=None, metadata={
        "help": "stop training after this many minutes in all (the learning-rate schedule shrinks to the steps "
                "that fit)"})
    sitting_minutes: float | None = field(default=None, metadata={
        "help": "end this sitting after this many minutes, keeping the schedule of all --steps: the training state "
                "is saved and --resume continues it"})
    save_every: int = field(default=200, metadata={
        "help": "save the training state every N steps (a killed run resumes from the last one; 0: at the end of "
                "the sitting only)"})


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


def distill(teacher_ckpt: Checkpoint, pairs: list[Pair], sources: list[dict], layers: int, hidden: int | None,
            settings: DistillSettings, out: Path, name: str, log=lambda m: print(m, file=sys.stderr),
            trim_texts: list[str] | None = None, provenance: dict | None = None, resume: bool = False) -> Path:
    """Train a `layers`-deep student of `teacher_ckpt` on `pairs` and save it atomically into `out`.
    `sources` and `provenance` are recorded in its stilts.json; `trim_texts`: trim the vocabulary to the pieces
    these texts need (models.training.vocabulary); `resume`: continue from the training state saved beside `out`
    (models.training.resumable)."""
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
    budget = StepBudget(cfg.steps, cfg.max_minutes)
    warmup = max(1, cfg.steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / budget.horizon))

    def encode(texts):
        return tok([prefix + t for t in texts], truncation=True, max_length=cfg.max_length, padding=True,
                   return_tensors="pt")

    def outputs(model, batch):
        result = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], return_dict=True)
        if head.name == "encoder":
            return mean_pool(result.last_hidden_state, batch["attention_mask"])
        return [getattr(result, n) for n in head.outputs]

    def loss_fn(student_out, teacher_out, targets, mask):
        if head.name != "encoder":
            return masked_softened_kl(student_out, teacher_out, mask, cfg.temperature,
                                      positional=head.name == "question-answering")
        student_out = student_out.float()  # the loss in fp32 whatever the autocast precision
        loss = torch.nn.functional.mse_loss(student_out, teacher_out)
        if cfg.contrastive_weight:
            loss = loss + cfg.contrastive_weight * in_batch_contrastive(student_out, teacher_out, targets)
        return loss

    cache: dict[str, list[torch.Tensor]] = {}

    def compute_targets(texts: list[str]) -> None:
        """The teacher's outputs for every text it will be asked about, once, before training: with parallel
        text one English sentence is the target of every language's translation, and a text is drawn many
        times over a run, while the teacher's pass costs more than the student's step. Batches are sorted by
        length (little padding); token-level outputs are stored without padding."""
        stored = _stored_targets(teacher_ckpt, head.name, cfg.max_length, precision, prefix)
        if stored.is_file():  # an earlier run of the same teacher and settings: its targets are reused
            cache.update(torch.load(stored, weights_only=True))
        unique = sorted((t for t in dict.fromkeys(texts) if t not in cache), key=len)
        log(f"teacher targets: {len(set(texts)) - len(unique):,} stored in {stored}, {len(unique):,} to compute")
        for start in tqdm(range(0, len(unique), 64), desc="teacher targets", file=sys.stderr, dynamic_ncols=True):
            rows = unique[start:start + 64]
            batch = encode(rows)
            # under bf16 autocast where the student trains in bf16: 2x faster here, and targets rounded to bf16's
            # 3 significant digits are far closer to the teacher than any student gets
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                result = outputs(teacher, batch)
            result = [result.float()] if head.name == "encoder" else [o.float() for o in result]
            lengths = batch["attention_mask"].sum(1).tolist()
            for row, text in enumerate(rows):
                cache[text] = [(o[row, :lengths[row]] if head.label_axis_is_token else o[row]).clone()
                               for o in result]
        if unique:
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(f".{os.getpid()}.tmp")
            torch.save(cache, partial)
            os.replace(partial, stored)  # atomic: a killed run leaves the previous file whole

    def targets(texts: list[str], width: int) -> list[torch.Tensor]:
        """Cached outputs of `texts` as a batch, token-level ones re-padded to `width` (the loss masks them)."""
        batched = []
        for k in range(len(cache[texts[0]])):
            per_text = [cache[t][k] for t in texts]
            if head.label_axis_is_token:
                per_text = [torch.nn.functional.pad(o, (0, 0) * (o.dim() - 1) + (0, width - o.shape[0]))
                            for o in per_text]
            batched.append(torch.stack(per_text))
        return batched

    state = TrainingState(out, run_identity(teacher_ckpt.path, head.name, texts_digest(pairs), layers, hidden,
                                            asdict(cfg)))
    saved = state.load(resume)
    losses: list[float] = []
    step_seconds: list[float] = []
    prior_seconds, sittings = 0.0, []  # earlier sittings of this run
    if saved is not None:
        student.load_state_dict(saved["trainable"], strict=False)  # the frozen rest is rebuilt from the teacher
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        budget.horizon, losses, step_seconds = saved["horizon"], list(saved["losses"]), list(saved["step_seconds"])
        prior_seconds, sittings = saved["train_seconds"], json.loads(saved["sittings"])
        restore_random(saved)
        log(f"resuming from step {len(losses)} of {budget.horizon} ({prior_seconds / 60:.1f} min trained so far, "
            f"{len(sittings)} sitting(s)) from {state.path}")
    log(f"distilling {teacher_ckpt.name} ({depth} layers) into {layers} layers on {len(pairs)} texts "
        f"from {', '.join(sources)} ({cfg.steps} steps" + (f", at most {cfg.max_minutes:g} min" if cfg.max_minutes
                                                              else "") + f", student in {precision})")
    student.eval()  # dropout off: the target is a deterministic function, noise only slows the fit
    t0 = time.perf_counter()  # the time budget counts the teacher's targets too
    first_step, ended = len(losses), "complete"  # how this sitting ends (a periodic save says "stopped")

    def elapsed() -> float:  # every sitting's time: --max-minutes bounds the whole run
        return prior_seconds + time.perf_counter() - t0

    def sitting() -> dict:
        return {"from_step": first_step, "to_step": len(losses), "seconds": time.perf_counter() - t0,
                "ended": ended}

    def save_state(complete: bool, during: bool = False) -> None:
        # saved during the sitting, its entry reads "stopped": what it means if the run is resumed from this state
        state.save(step=len(losses), steps=budget.horizon, complete=complete,
                   trainable={n: p.detach().clone() for n, p in student.named_parameters() if p.requires_grad},
                   optimizer=optimizer, scheduler=scheduler, horizon=budget.horizon, losses=losses,
                   step_seconds=step_seconds, train_seconds=elapsed(),
                   sittings=[*sittings, {**sitting(), **({"ended": "stopped"} if during else {})}])
    # retrieval: the teacher's embedding of the English side (p[1]); heads: the teacher on the same input
    compute_targets([p[1] if head.name == "encoder" else p[0] for p in pairs])
    bar = tqdm(total=budget.horizon, initial=len(losses), desc="distil", file=sys.stderr, dynamic_ncols=True)
    while not budget.finished(len(losses), elapsed()):
        if cfg.sitting_minutes is not None and time.perf_counter() - t0 >= cfg.sitting_minutes * 60:
            ended = "sitting limit"
            break
        step_start = time.perf_counter()
        batch_pairs = random.sample(pairs, min(cfg.batch_size, len(pairs)))
        inputs = encode([p[0] for p in batch_pairs])
        teacher_out = targets([p[1] if head.name == "encoder" else p[0] for p in batch_pairs],
                              inputs["input_ids"].shape[1])
        teacher_out = teacher_out[0] if head.name == "encoder" else teacher_out
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            student_out = outputs(student, inputs)
        loss = loss_fn(student_out, teacher_out, [p[1] for p in batch_pairs], inputs["attention_mask"].bool())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if math.isnan(losses[-1]):
            raise UserError("the distillation loss became NaN; lower --lr")
        step_seconds.append(time.perf_counter() - step_start)
        recent = step_seconds[-50:]
        budget.update(len(losses), elapsed(), sum(recent) / len(recent))
        if cfg.save_every and len(losses) % cfg.save_every == 0:
            save_state(complete=False, during=True)
        bar.total = budget.horizon  # the ETA follows the time budget
        bar.update()
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.5f}")
    bar.close()
    if ended == "complete" and len(losses) < budget.horizon:
        ended = "time budget"  # --max-minutes ran out: the run is over, with the steps that fitted
    complete = ended != "sitting limit"
    save_state(complete)
    train_seconds = elapsed()
    if not complete:
        log(f"sitting ended at step {len(losses)} of {budget.horizon}: the student saved now is partial; run the same "
            f"command with --resume to continue")
    sittings = [*sittings, sitting()]
    model_out, tok_out, vocabulary = student, tok, None
    if trim_texts is not None:
        size_before = _weights_bytes(student)
        model_out, tok_out, kept = trim_vocabulary(student, tok, [prefix + t for t in trim_texts])
        vocabulary = {"pieces_before": len(tok), "pieces_after": kept, "weights_bytes_before": size_before,
                      "weights_bytes_after": _weights_bytes(model_out)}
        log(f"vocabulary trimmed: {len(tok):,} -> {kept:,} pieces, weights {size_before / 2**20:.0f} -> "
            f"{vocabulary['weights_bytes_after'] / 2**20:.0f} MiB")

    def save(staging: Path) -> None:
        model_out.save_pretrained(str(staging))
        tok_out.save_pretrained(str(staging))
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
            "data": sources, "texts": len(pairs), "steps": len(losses), "steps_asked": cfg.steps,
            "complete": complete, "sittings": sittings,
            "max_minutes": cfg.max_minutes, "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate, "seed": cfg.seed, "train_seconds": train_seconds,
            "vocabulary": vocabulary, **(provenance or {}),
            "loss_first": sum(losses[:window]) / window, "loss_last": sum(losses[-window:]) / window,
            "losses": losses,
        })
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2))

    return build_atomically(out, save)


def _weights_bytes(model) -> int:
    """fp32 bytes of the parameters: what the saved safetensors file holds, without its header."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _stored_targets(teacher_ckpt: Checkpoint, head: str, max_length: int, precision: str, prefix: str) -> Path:
    """Where a teacher's targets persist between runs (the cache's distill-targets/): one file per teacher
    (its weights' path, size and time), head, truncation length, precision and input prefix, so that trying
    another student shape or budget on the same text skips the teacher's pass."""
    weights = weight_files(teacher_ckpt.path)
    identity = [str(Path(teacher_ckpt.path).resolve()), head, max_length, precision, prefix,
                [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights]]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:20]
    return cache_root() / "distill-targets" / f"{Path(teacher_ckpt.path).name}-{key}.pt"
