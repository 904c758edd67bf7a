"""Assembling a run: tokenizers, the mixed stream, the model with its objectives, the
optimizer and schedule, and saving or restoring all of it.

:class:`Trainer` is the one place that holds a run's runtime objects; its ``state``
(:class:`TrainState`) is the serialisable progress.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn

from babelshard.train.loop.checkpoint import (
    ResumeMismatch,
    TrainState,
    checkpoint_path,
    find_resume,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    state_from_checkpoint,
)
from babelshard.train.config import TrainConfig
from babelshard.train.data.batches import StreamBatch
from babelshard.train.data.codeswitch_online import OnlineCodeSwitch
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.shardstream import ShardErrorBudget
from babelshard.train.data.tokenizer import Tokenizer, build_tokenizer
from babelshard.train.loop.distributed import DistEnv, distributed
from babelshard.train.loop.metrics import MetricsLog
from babelshard.train.loop.optim import build_optimizer, build_scheduler
from babelshard.train.models.dual_encoder import VocabInfo, save_model_file
from babelshard.train.objectives.contrastive import Objective
from babelshard.train.registry import build_model, build_objective


class TrainModule(nn.Module):
    """The model and its objectives as one module, so DDP sees one ``forward``."""

    def __init__(self, model: nn.Module, objectives: list[Objective]):
        super().__init__()
        self.model = model
        self.objectives = nn.ModuleList(objectives)
        kinds = [o.config.kind for o in objectives]
        self.names = [k if kinds.count(k) == 1 else f"{k}_{o.stream}" for k, o in zip(kinds, objectives)]

    def forward(self, streams: Mapping[str, StreamBatch]) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        total = None
        for name, objective in zip(self.names, self.objectives):
            out = objective(self.model, objective.inputs(streams))
            weighted = objective.weight * out["loss"]
            total = weighted if total is None else total + weighted
            terms[f"loss/{name}"] = out["loss"]
            terms.update({f"{name}/{k}": v for k, v in out.items() if k != "loss"})
        assert total is not None
        terms["loss"] = total
        return terms


@dataclass
class Trainer:
    config: TrainConfig
    env: DistEnv
    tokenizer: Tokenizer
    teacher_tokenizer: Tokenizer
    dataset: MixedStream
    module: TrainModule
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    steps_per_epoch: int
    total_steps: int
    log: MetricsLog
    state: TrainState = field(default_factory=TrainState)
    saved_step: int = -1

    @property
    def model(self) -> nn.Module:
        return self.module.model

    @property
    def vocab(self) -> VocabInfo:
        return VocabInfo.of(self.tokenizer)

    @property
    def teacher_vocab(self) -> VocabInfo:
        return VocabInfo.of(self.teacher_tokenizer)

    @property
    def batches_per_epoch(self) -> int:
        return self.steps_per_epoch * self.config.optim.accum_steps


def shard_error_budget(config: TrainConfig) -> ShardErrorBudget:
    return ShardErrorBudget(config.data.max_shard_error_rate, config.data.min_shard_reads)


def plan_steps(config: TrainConfig, dataset: MixedStream) -> tuple[int, int]:
    """Optimizer steps per epoch (the dataset's epoch, in whole steps) and in total."""
    steps_per_epoch = dataset.batches_per_epoch // config.optim.accum_steps
    total = steps_per_epoch * config.loop.epochs
    return steps_per_epoch, min(total, config.loop.max_steps or total)


def build_trainer(config: TrainConfig, env: DistEnv) -> Trainer:
    tokenizer = build_tokenizer(config.tokenizer)
    teacher_tokenizer = build_tokenizer(config.teacher_tokenizer) if config.teacher_tokenizer else tokenizer
    transforms = {s.name: OnlineCodeSwitch(s.codeswitch) for s in config.data.streams
                  if s.kind == "caption" and s.codeswitch is not None}
    dataset = MixedStream(config.data.streams, tokenizer, teacher_tokenizer, seed=config.data.seed, rank=env.rank,
                          world=env.world, accum_steps=config.optim.accum_steps,
                          samples_per_epoch=config.data.samples_per_epoch, transforms=transforms,
                          error_budget=shard_error_budget(config))
    steps_per_epoch, total_steps = plan_steps(config, dataset)
    torch.manual_seed(config.data.seed)
    model = build_model(config.model, VocabInfo.of(tokenizer), VocabInfo.of(teacher_tokenizer))
    module = TrainModule(model, [build_objective(o) for o in config.objectives]).to(env.device)
    wrapped: nn.Module = module
    if distributed():
        device_ids = [env.local_rank] if env.device.startswith("cuda") else None
        wrapped = nn.parallel.DistributedDataParallel(
            module, device_ids=device_ids, find_unused_parameters=config.loop.find_unused_parameters
        )
    optimizer = build_optimizer(module, config.optim)
    scheduler = build_scheduler(optimizer, total_steps, config.optim)
    log = MetricsLog(
        os.path.join(config.loop.output, "metrics.jsonl") if env.main else None,
        loggers=config.loop.loggers,
        run_name=config.name,
        config=config.model_dump(mode="json"),
    )
    return Trainer(config, env, tokenizer, teacher_tokenizer, dataset, module, wrapped, optimizer, scheduler,
                   steps_per_epoch, total_steps, log)


def data_layout(trainer: Trainer) -> dict[str, int]:
    return {"world": trainer.env.world, "workers": max(1, trainer.config.data.workers),
            "batches_per_epoch": trainer.batches_per_epoch}


def save(trainer: Trainer) -> str | None:
    """A checkpoint of the current step (every rank takes part; the main one writes)."""
    trainer.saved_step = trainer.state.step
    part = trainer.state.rank_part()
    parts = [part]
    if distributed():
        parts = [None] * trainer.env.world
        dist.all_gather_object(parts, part)
    if not trainer.env.main:
        return None
    path = checkpoint_path(trainer.config.loop.output, trainer.state.step)
    payload = {
        "config": trainer.config.model_dump(mode="json"),
        "vocab": trainer.vocab.__dict__,
        "teacher_vocab": trainer.teacher_vocab.__dict__,
        "model": trainer.model.state_dict(),
        "objectives": trainer.module.objectives.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "state": trainer.state.as_json(),
        "ranks": parts,
        "layout": data_layout(trainer),
    }
    save_checkpoint(path, payload, trainer.config.loop.keep_checkpoints)
    return path


def resume(trainer: Trainer) -> str | None:
    """Restore the latest (or configured) checkpoint, if any; same world and workers only."""
    path = find_resume(trainer.config.loop.output, trainer.config.loop.resume)
    if path is None:
        return None
    data = load_checkpoint(path)
    if data["layout"] != data_layout(trainer):
        raise ResumeMismatch(f"{path}: saved with {data['layout']}, this run has {data_layout(trainer)}; "
                             "exact resumption needs the same world size, workers and epoch size")
    trainer.model.load_state_dict(data["model"])
    trainer.module.objectives.load_state_dict(data["objectives"])
    trainer.optimizer.load_state_dict(data["optimizer"])
    trainer.scheduler.load_state_dict(data["scheduler"])
    trainer.state = state_from_checkpoint(data, trainer.env.rank)
    restore_rng(data["ranks"][trainer.env.rank]["rng"])
    trainer.saved_step = trainer.state.step
    return path


def save_model(trainer: Trainer) -> str | None:
    if not trainer.env.main:
        return None
    path = os.path.join(trainer.config.loop.output, "model.pt")
    save_model_file(path, trainer.model, trainer.config.model, trainer.vocab, trainer.teacher_vocab)
    return path


def parameter_digest(module: nn.Module) -> str:
    """A hash of every parameter's bytes, to check that DDP ranks hold the same model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
