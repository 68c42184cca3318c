"""How long a distillation runs: the step budget, and resumable runs. The training state (the student's trained weights, the optimiser, the learning-rate
schedule, the step budget, the random generators, the losses so far and the seconds spent) saved beside the
student, so that `bench distill --resume` continues a stopped, killed or time-limited run where its last saved
state left it, and a run can span more time than one sitting.

The state is saved every `save_every` steps and at the end of every sitting, atomically (a kill while it is
written leaves the previous state whole). It is resumed only by the run it belongs to: same teacher weights, same
training text, same student shape and training settings (`identity`); a sitting's own time limits may differ."""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import UserError

STATE_FILE = "state.pt"


@dataclass
class StepBudget:
    """How many steps the run takes: `steps`, or fewer when `max_minutes` would run out first. The horizon is
    re-estimated from the recent step time (early steps also fill the teacher-target cache, so they are the
    slowest), and the linear learning-rate decay always ends at the current horizon."""
    steps: int
    max_minutes: float | None
    horizon: int = 0

    def __post_init__(self):
        self.horizon = self.steps

    def update(self, done: int, elapsed: float, recent_step_seconds: float) -> None:
        if self.max_minutes is None or done < 10:
            return
        left = self.max_minutes * 60 - elapsed
        self.horizon = max(done + 1, min(self.steps, done + int(left / max(recent_step_seconds, 1e-6))))

    def finished(self, done: int, elapsed: float) -> bool:
        return done >= self.horizon or (self.max_minutes is not None and elapsed >= self.max_minutes * 60)


def state_dir(out: Path) -> Path:
    """Where the training state of the student saved at `out` lives: beside it, one name for both."""
    return Path(out).with_name(Path(out).name + ".training")


def run_identity(teacher_path: Path, head: str, texts_digest: str, layers: int, hidden: int | None,
                 settings: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run must share with the run it continues. The time limits of a sitting are left out."""
    weights = weight_files(teacher_path)
    return {"teacher": str(Path(teacher_path).resolve()), "head": head, "layers": layers, "hidden": hidden,
            "teacher_weights": [[w.name, w.stat().st_size] for w in weights], "texts_sha256": texts_digest,
            "settings": {k: v for k, v in settings.items() if k not in ("max_minutes", "sitting_minutes",
                                                                       "save_every")}}


def weight_files(checkpoint_path: Path) -> list[Path]:
    """A checkpoint's weight files (safetensors, else PyTorch .bin): what identifies its weights on disk."""
    return sorted(Path(checkpoint_path).glob("*.safetensors")) or sorted(Path(checkpoint_path).glob("*.bin"))


def texts_digest(pairs: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for student_text, target_text in pairs:
        digest.update(student_text.encode("utf-8") + b"\x00" + target_text.encode("utf-8") + b"\x01")
    return digest.hexdigest()


class TrainingState:
    def __init__(self, out: Path, identity: dict[str, Any]):
        self.path = state_dir(out) / STATE_FILE
        self.identity = identity

    def load(self, resume: bool) -> dict[str, Any] | None:
        """The saved state to continue from, or None to start at step 0. Refuses (one line) to resume another run,
        and to start over an unfinished run's state without --resume (it would be lost)."""
        import torch

        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable state is reported the same way
            raise UserError(f"{self.path}: the saved training state cannot be read ({type(e).__name__}); delete "
                            f"{self.path.parent} to start again") from None
        progress = f"step {saved['step']} of {saved['steps']}"
        if not resume:
            if saved["complete"]:
                return None  # a finished run's state: a new run replaces it
            raise UserError(f"{self.path.parent} holds the training state of an unfinished run ({progress}): add "
                            f"--resume to continue it, or delete that folder to start again")
        if saved["identity"] != self.identity:
            ours, theirs = self.identity, saved["identity"]
            differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            if "settings" in differ:
                s, t = ours["settings"], theirs["settings"]
                differ = [d for d in differ if d != "settings"] + sorted(k for k in set(s) | set(t)
                                                                         if s.get(k) != t.get(k))
            raise UserError(f"--resume: the training state in {self.path.parent} ({progress}) belongs to another "
                            f"run ({', '.join(differ)} differ); give the same teacher, text and settings, or "
                            f"another --out")
        return saved

    def save(self, *, step: int, steps: int, complete: bool, trainable: dict[str, Any], optimizer: Any,
             scheduler: Any, horizon: int, losses: list[float], step_seconds: list[float], train_seconds: float,
             sittings: list[dict[str, Any]]) -> None:
        import torch

        state = {"identity": self.identity, "step": step, "steps": steps, "complete": complete,
                 "trainable": trainable, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "horizon": horizon, "losses": losses, "step_seconds": step_seconds, "train_seconds": train_seconds,
                 "sittings": json.dumps(sittings), "python_random": json.dumps(random.getstate()),
                 "torch_random": torch.get_rng_state()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, partial)
        os.replace(partial, self.path)  # atomic: a kill while saving leaves the previous state whole


def restore_random(saved: dict[str, Any]) -> None:
    import torch

    version, internal, gauss = json.loads(saved["python_random"])
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(saved["torch_random"])
