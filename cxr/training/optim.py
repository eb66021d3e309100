"""AdamW parameter groups and the learning-rate schedule (linear warmup, then cosine or plateau).

Groups: when the backbone starts from pretrained weights, those weights
(``model.pretrained_prefixes``, their normalisation layers included) train at
``lr * backbone_lr_mult`` (lr/20 by default), so fine-tuning does not wreck
what ImageNet taught; new parts (head, CBAM with its own BatchNorm, FPN) train
at ``lr``. A backbone from random initialisation has nothing to
protect and trains at ``lr`` throughout. Norm parameters and biases get no
weight decay.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cxr.models.contract import Classifier

_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def parameter_groups(
    model: Classifier, lr: float, weight_decay: float, backbone_lr_mult: float, pretrained: bool
) -> list[dict]:
    """AdamW groups ``backbone|new`` x ``decay|no_decay``; empty groups are dropped."""
    norms = {
        id(p) for m in model.modules() if isinstance(m, _NORMS) for p in m.parameters(recurse=False)
    }
    prefixes = tuple(model.pretrained_prefixes)
    groups: dict[tuple[str, str], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_norm = id(p) in norms
        slow = pretrained and name.startswith(prefixes)
        decay = "no_decay" if is_norm or name.endswith(".bias") else "decay"
        groups.setdefault(("backbone" if slow else "new", decay), []).append(p)
    return [
        {
            "name": f"{kind}/{decay}",
            "params": params,
            "lr": lr * backbone_lr_mult if kind == "backbone" else lr,
            "weight_decay": weight_decay if decay == "decay" else 0.0,
        }
        for (kind, decay), params in sorted(groups.items())
    ]


class Schedule:
    """Per-step linear warmup, then per-step cosine decay or per-epoch reduce-on-plateau."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: str,
        warmup_steps: int,
        total_steps: int,
        min_lr_ratio: float = 0.01,
        plateau_factor: float = 0.3,
        plateau_patience: int = 1,
    ) -> None:
        if kind not in ("cosine", "plateau"):
            raise ValueError(f"unknown schedule {kind!r}: use cosine or plateau")
        self.optimizer, self.kind = optimizer, kind
        self.warmup, self.total = max(warmup_steps, 0), max(total_steps, 1)
        self.min_ratio = min_lr_ratio
        self.base = [g["lr"] for g in optimizer.param_groups]
        self.step_count = 0
        self.plateau_scale = 1.0
        self.plateau_factor, self.plateau_patience = plateau_factor, plateau_patience
        self.best, self.bad_epochs = -math.inf, 0
        self._apply()

    def factor(self) -> float:
        s = self.step_count
        if s < self.warmup:
            return (s + 1) / self.warmup
        if self.kind == "cosine":
            t = min((s - self.warmup) / max(self.total - self.warmup, 1), 1.0)
            return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return self.plateau_scale

    def _apply(self) -> None:
        f = self.factor()
        for g, base in zip(self.optimizer.param_groups, self.base, strict=True):
            g["lr"] = base * f

    def step(self) -> None:
        """After every optimiser step."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, metric: float) -> None:
        """After validation; only the plateau schedule uses it (higher metric is better)."""
        if self.kind != "plateau":
            return
        if metric > self.best + 1e-4:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.plateau_patience:
                self.plateau_scale *= self.plateau_factor
                self.bad_epochs = 0
        self._apply()

    def state_dict(self) -> dict:
        return {
            "step_count": self.step_count,
            "plateau_scale": self.plateau_scale,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.plateau_scale = float(state["plateau_scale"])
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])
        self._apply()
