"""Training and evaluating the fusion presets with part 1's loop.

:func:`build_fusion_trainer` is part 1's ``build_trainer`` with the two differences the
presets need (the hybrid tokenizer; the mixer with online code-switching and
language-aware collation); :func:`train_fusion` is part 1's ``train`` calling it. Both
shrink to part 1's own functions once ``build_tokenizer`` knows ``hybrid``, ``collate``
passes languages, the mixer takes item transforms and part 1's config models carry the
fields of :mod:`fusion_train_config`.
Everything else (steps, epochs, checkpoints, resume, DDP, metrics) is part 1's code.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from babelshard.configbase import parse_config
from babelshard.train import fusion_registry  # noqa: F401  (registers models and objectives)
from babelshard.train.checkpoint import TrainState
from babelshard.train.codeswitch_online import OnlineCodeSwitch
from babelshard.train.distributed import DistEnv, distributed, init_distributed
from babelshard.train.fusion_data import FusionMixedStream
from babelshard.train.fusion_eval import evaluate_fusion
from babelshard.train.fusion_train_config import FusionModelConfig, FusionTokenizerConfig, FusionTrainConfig
from babelshard.train.loop import progress_bar, run_epoch, write_summary
from babelshard.train.metrics import MetricsLog
from babelshard.train.models import VocabInfo, build_model, read_model_file
from babelshard.train.objectives import build_objective
from babelshard.train.optim import build_optimizer, build_scheduler
from babelshard.train.smalr import HybridTokenizer
from babelshard.train.tokenizer import build_tokenizer
from babelshard.train.trainer import Trainer, TrainModule, plan_steps, resume, save, save_model


def build_fusion_tokenizer(config: FusionTokenizerConfig) -> Any:
    if config.kind == "hybrid":
        if not config.path:
            raise ValueError("tokenizer kind 'hybrid' needs a path: the hybrid vocabulary artifact folder")
        return HybridTokenizer(config.path, config.max_length)
    return build_tokenizer(config)


def build_fusion_trainer(config: FusionTrainConfig, env: DistEnv) -> Trainer:
    tokenizer = build_fusion_tokenizer(config.tokenizer)
    teacher_tokenizer = build_fusion_tokenizer(config.teacher_tokenizer) if config.teacher_tokenizer else tokenizer
    transforms = {s.name: OnlineCodeSwitch(s.codeswitch) for s in config.data.streams if s.codeswitch is not None}
    dataset = FusionMixedStream(config.data.streams, tokenizer, teacher_tokenizer, seed=config.data.seed,
                                rank=env.rank, world=env.world, transforms=transforms)
    steps_per_epoch, total_steps = plan_steps(config, dataset, env.world)
    dataset.batches_per_epoch = steps_per_epoch * config.optim.accum_steps
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
    log = MetricsLog(os.path.join(config.loop.output, "metrics.jsonl") if env.main else None)
    return Trainer(config, env, tokenizer, teacher_tokenizer, dataset, module, wrapped, optimizer, scheduler,
                   steps_per_epoch, total_steps, log)


def train_fusion(config: FusionTrainConfig) -> TrainState:
    """Run (or resume) a fusion preset; returns the final progress."""
    if config.loop.threads:
        torch.set_num_threads(config.loop.threads)
    env = init_distributed(config.loop.device)
    os.makedirs(config.loop.output, exist_ok=True)
    trainer = build_fusion_trainer(config, env)
    resumed_from = resume(trainer)
    bar = progress_bar(trainer)
    while trainer.state.epoch < config.loop.epochs and trainer.state.step < trainer.total_steps:
        if run_epoch(trainer, bar):
            break
        trainer.state.next_epoch()
        save(trainer)
    if trainer.saved_step != trainer.state.step:
        save(trainer)
    if trainer.state.step >= trainer.total_steps:
        save_model(trainer)
    write_summary(trainer, resumed_from)
    if bar is not None:
        bar.close()
    return trainer.state


def load_fusion_model(path: str) -> nn.Module:
    """A model file (or checkpoint) written by a fusion run."""
    data = read_model_file(path)
    config = parse_config(FusionModelConfig, data["model"], source=path)
    model = build_model(config.model_copy(update={"init": None}), VocabInfo(**data["vocab"]), VocabInfo(**data["teacher_vocab"]))
    model.load_state_dict(data["state_dict"], strict=True)
    return model


def evaluate_preset(config: FusionTrainConfig, model_path: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """Every configured scorer on the eval set; written to ``eval.output`` or
    ``<loop.output>/eval.json`` as ``{scorer: results}``."""
    if config.eval is None:
        raise ValueError(f"config {config.name!r} has no eval section")
    path = model_path or os.path.join(config.loop.output, "model.pt")
    model = load_fusion_model(path).to(device)
    tokenizer = build_fusion_tokenizer(config.tokenizer)
    results: dict[str, Any] = {"model": path}
    for scorer in config.eval.scorers:
        results[scorer] = evaluate_fusion(model, tokenizer, config.eval, scorer, device,
                                          config.eval.translation_languages, config.eval.query_weight, config.eval.itm_images)
    target = config.eval.output or os.path.join(config.loop.output, "eval.json")
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    return results
