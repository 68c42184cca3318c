"""`bench distill`: a smaller student from a (STILTs) teacher, by knowledge distillation.

Student: the teacher's config with K layers, initialised with the embeddings and every n-th layer of the
teacher (or, with --hidden, a narrower randomly initialised config). Losses:
* encoder / retrieval: mean-squared error between the student's and the teacher's mean-pooled sentence
  embeddings; with parallel text the student matches the teacher's embedding of the English side for both
  sides of the pair (the multilingual sentence-embedding distillation recipe), plus an in-batch contrastive
  term on the same targets (see `in_batch_contrastive`);
* task heads (classification, tagging, QA): KL divergence between temperature-softened teacher and student
  logits.
The word embeddings stay frozen: they carry the multilingual vocabulary, are 80% of a small model's weights,
and updating them with a few thousand pairs only hurts the languages the data does not cover.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.paths import build_atomically
from models.checkpoint import METADATA_FILE, resolve_checkpoint
from models.students import students_root


@dataclass
class DistillConfig:
    teacher: str
    layers: int
    data: list[str]
    out: Path | None = None
    hidden: int | None = None
    task: str | None = None
    steps: int = 1200
    batch_size: int = 32
    learning_rate: float = 5e-4
    max_length: int = 128
    temperature: float = 2.0
    contrastive_weight: float = 1.0
    precision: str = "auto"
    seed: int = 0
    threads: int | None = None


Pair = tuple[str, str]  # (text the student reads, English text whose teacher embedding is the target)


def load_training_text(specs: list[str]) -> tuple[list[Pair], list[str]]:
    """Files: `.txt` one sentence per line (target = itself), `.tsv` `english<TAB>translation` pairs,
    `.conllu` sentences, or a directory of XQuAD JSON files (xquad.{lang}.json; same articles, paragraphs and
    questions in the same order in every language, so aligned by position)."""
    pairs, sources = [], []
    for spec in specs:
        path = Path(spec)
        if not path.exists():
            raise UserError(f"distillation data {spec} does not exist")
        if "tatoeba" in path.name.lower() or (path.is_dir() and any(path.glob("tatoeba.*"))):
            raise UserError(f"{spec} is Tatoeba, the evaluation data: distil on other text (XQuAD, UD)")
        try:
            if path.is_dir():
                pairs += _xquad_pairs(path)
            elif path.suffix == ".conllu":
                from bench.tasks.tagging import read_conllu

                pairs += [(" ".join(w), " ".join(w)) for w, _ in read_conllu(path)]
            elif path.suffix == ".tsv":
                for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    cols = line.split("\t")
                    if len(cols) != 2:
                        raise UserError(f"{path}:{n}: expected 'english<TAB>translation'")
                    pairs += [(cols[1], cols[0]), (cols[0], cols[0])]
            else:
                pairs += [(t, t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None
        sources.append(str(path))
    if not pairs:
        raise UserError(f"no training text in {', '.join(specs)}")
    return pairs, sources


def _xquad_pairs(directory: Path) -> list[Pair]:
    english = directory / "xquad.en.json"
    if not english.is_file():
        raise UserError(f"{directory}: parallel XQuAD text needs xquad.en.json beside the other languages")

    def texts(path: Path) -> list[str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not SQuAD-format JSON ({e})") from None
        out = []
        for article in data:
            for paragraph in article["paragraphs"]:
                out.append(paragraph["context"])
                out += [qa["question"] for qa in paragraph["qas"]]
        return out

    en = texts(english)
    pairs = [(t, t) for t in en]
    for other in sorted(directory.glob("xquad.*.json")):
        if other == english:
            continue
        xx = texts(other)
        if len(xx) != len(en):
            raise UserError(f"{other} does not align with {english} ({len(xx)} vs {len(en)} texts)")
        pairs += list(zip(xx, en))
    return pairs


def kept_layers(teacher_layers: int, k: int) -> list[int]:
    """Every n-th layer, ending with the last: 12 -> 3 keeps 3, 7, 11 (0-based)."""
    return [round((j + 1) * teacher_layers / k) - 1 for j in range(k)]


def build_student(teacher_model, layers: int, hidden: int | None):
    """A K-layer copy of the teacher (embeddings and every n-th layer), or a narrower random one."""
    import copy

    import torch

    config = copy.deepcopy(teacher_model.config)
    config.num_hidden_layers = layers
    if hidden:
        config.hidden_size = hidden
        config.intermediate_size = 4 * hidden
        config.num_attention_heads = max(1, hidden // 64)
    kwargs = {}
    if hasattr(teacher_model, "pooler"):  # bare encoders: mirror the teacher's (absent) pooler
        kwargs["add_pooling_layer"] = teacher_model.pooler is not None
    student = type(teacher_model)(config, **kwargs)
    if hidden is None:
        teacher_state = teacher_model.state_dict()
        mapping = {f".layer.{j}.": f".layer.{i}." for j, i in enumerate(kept_layers(teacher_model.config.num_hidden_layers, layers))}
        state = {}
        for key in student.state_dict():
            source = key
            for new, old in mapping.items():
                if new in key:
                    source = key.replace(new, old)
                    break
            state[key] = teacher_state[source]
        student.load_state_dict(state)
    else:
        torch.manual_seed(0)
    return student


def _mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def in_batch_contrastive(student_emb, teacher_emb, targets: list[str], scale: float = 20.0):
    """Cross-entropy that picks, among the batch's teacher embeddings, the one of this text's own target.

    MSE alone spends much of its capacity on the component every sentence embedding shares (e5 embeddings of
    unrelated sentences are far from orthogonal), which retrieval never uses; this term trains the ranking that
    Tatoeba and BUCC score. Measured on the demo (3 layers, 300 steps): Tatoeba 48.6 with MSE, 59.7 with MSE +
    this term. Rows whose target is the same English text (its translations drawn into one batch) are not
    negatives of each other, so they are masked out."""
    import torch
    import torch.nn.functional as F

    logits = F.normalize(student_emb, dim=-1) @ F.normalize(teacher_emb, dim=-1).T * scale
    ids = {t: i for i, t in enumerate(dict.fromkeys(targets))}
    target_ids = torch.tensor([ids[t] for t in targets])
    same_target = target_ids[:, None] == target_ids[None, :]
    diagonal = torch.eye(len(targets), dtype=torch.bool)
    logits = logits.masked_fill(same_target & ~diagonal, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(targets)))


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


def run_distill(cfg: DistillConfig, log=lambda m: print(m, file=sys.stderr)) -> Path:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from models.heads import load_model

    teacher_ckpt = resolve_checkpoint(cfg.teacher)
    head = teacher_ckpt.head
    if cfg.task:
        from bench.tasks import get_task

        task = get_task(cfg.task)
        if head.name != task.head:
            raise UserError(f"task {task.name} needs a teacher with a {task.head} head; {teacher_ckpt.name} has "
                            f"{head.name}")
    depth = teacher_ckpt.config["num_hidden_layers"]
    if not 1 <= cfg.layers < depth and cfg.hidden is None:
        raise UserError(f"--layers must be between 1 and {depth - 1} (the teacher has {depth} layers)")
    if cfg.layers < 1 or (cfg.hidden is not None and cfg.hidden % 64):
        raise UserError("--layers must be >= 1 and --hidden a multiple of 64")
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise UserError("--steps and --batch-size must be at least 1")
    precision = resolve_precision(cfg.precision)
    pairs, sources = load_training_text(cfg.data)
    name = f"{teacher_ckpt.name if '/' not in teacher_ckpt.name else Path(teacher_ckpt.name).name}-L{cfg.layers}" + \
        (f"-H{cfg.hidden}" if cfg.hidden else "")
    out = Path(cfg.out) if cfg.out else students_root() / name
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    tok = teacher_ckpt.tokenizer()
    prefix = teacher_ckpt.metadata.get("input_prefix", "")
    kwargs = {"add_pooling_layer": False} if head.name == "encoder" else {}
    teacher = load_model(teacher_ckpt.path, head, **kwargs)
    student = build_student(teacher, cfg.layers, cfg.hidden)
    if cfg.hidden is None:
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
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], return_dict=True)
        if head.name == "encoder":
            return _mean_pool(out.last_hidden_state, batch["attention_mask"])
        return [getattr(out, n) for n in head.outputs]

    def loss_fn(student_out, teacher_out, targets):
        if head.name == "encoder":
            student_out = student_out.float()  # the loss in fp32 whatever the autocast precision
            loss = F.mse_loss(student_out, teacher_out)
            if cfg.contrastive_weight:
                loss = loss + cfg.contrastive_weight * in_batch_contrastive(student_out, teacher_out, targets)
            return loss
        t = cfg.temperature
        return sum(F.kl_div(F.log_softmax(s.float() / t, -1), F.softmax(g.float() / t, -1), reduction="batchmean")
                   * t * t for s, g in zip(student_out, teacher_out)) / len(student_out)

    embedding_cache: dict[str, torch.Tensor] = {}

    def target_embeddings(texts: list[str]) -> torch.Tensor:
        """The teacher's sentence embeddings, each computed once: with parallel text one English sentence is
        the target of every language's translation, and the teacher's forward pass costs more than the
        student's step, so memoising it buys several times more training steps per minute."""
        missing = list(dict.fromkeys(t for t in texts if t not in embedding_cache))
        if missing:
            batch = encode(missing)
            embedding_cache.update(zip(missing, outputs(teacher, batch)))
        return torch.stack([embedding_cache[t] for t in texts])

    log(f"distilling {teacher_ckpt.name} ({depth} layers) into {cfg.layers} layers on {len(pairs)} texts "
        f"from {', '.join(sources)} ({cfg.steps} steps, student in {precision})")
    losses = []
    student.eval()  # dropout off: the target is a deterministic function, noise only slows the fit
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="distil", file=sys.stderr, dynamic_ncols=True)
    for step in bar:
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
    student.eval()

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
            "init": "random (narrower config)" if cfg.hidden else
                    f"teacher embeddings + layers {kept_layers(depth, cfg.layers)}",
            "layers": cfg.layers, "hidden": cfg.hidden or teacher.config.hidden_size,
            "retrieval_layer": cfg.layers if teacher_ckpt.metadata.get("retrieval_layer") else None,
            "data": sources, "texts": len(pairs), "steps": cfg.steps, "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate, "seed": cfg.seed, "train_seconds": time.perf_counter() - t0,
            "loss_first": sum(losses[:window]) / window, "loss_last": sum(losses[-window:]) / window,
            "losses": losses,
        })
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2))

    return build_atomically(out, save)
