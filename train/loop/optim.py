"""Optimisers (AdamW, LAMB) and learning-rate schedules (warmup, then constant, linear,
inverse square root or cosine decay)."""
from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from babelshard.configbase import ConfigError
from babelshard.train.config import OptimConfig


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al., 2019): Adam moments with bias correction, decoupled weight decay
    added to the update, and a per-tensor trust ratio ||w|| / ||update||."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1 ** state["step"])
                v_hat = v / (1 - beta2 ** state["step"])
                update = m_hat / (v_hat.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                w_norm, u_norm = p.norm(), update.norm()
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.add_(update, alpha=-group["lr"] * float(trust))
        return loss


def no_decay(name: str, parameter: torch.Tensor) -> bool:
    """Biases, norms, embeddings' scale-like 1-d tensors, temperatures: no weight decay."""
    return parameter.ndim < 2 or "log_scale" in name or "positional" in name or "class_token" in name


def parameter_groups(modules: nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, parameter in modules.named_parameters():
        if parameter.requires_grad:
            (plain if no_decay(name, parameter) else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def build_optimizer(modules: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(modules, config.weight_decay)
    if not any(g["params"] for g in groups):
        raise ConfigError("nothing to train: every parameter is frozen")
    if config.name == "lamb":
        return Lamb(groups, lr=config.lr, betas=config.betas, eps=config.eps)
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)


def lr_factor(step: int, total: int, config: OptimConfig) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based)."""
    warmup = config.warmup_steps
    if warmup and step < warmup:
        return (step + 1) / warmup
    floor = config.min_lr_ratio
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "inverse_sqrt":
        return max(floor, math.sqrt(max(warmup, 1) / (step + 1)))
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if config.schedule == "linear":
        return floor + (1 - floor) * (1 - progress)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, config: OptimConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, config))
