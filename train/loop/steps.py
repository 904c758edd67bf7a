"""The training loop: epochs as sample budgets, gradient accumulation, bf16 autocast on
CUDA, DDP, periodic checkpoints, a progress bar and JSONL metrics.

``train(config)`` is what ``babelshard train`` and ``torchrun ... babelshard train``
run. Every rank executes the same steps; collectives (loss means, checkpoint
gathering) happen at the same steps on all of them.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter, defaultdict
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader

from babelshard.errors import UserError
from babelshard.train.config import TrainConfig
from babelshard.train.data.batches import MixedBatch
from babelshard.train.loop.checkpoint import TrainState
from babelshard.train.loop.distributed import init_distributed, mean_across
from babelshard.train.loop.metrics import StepClock, batch_digest
from babelshard.train.loop.trainer import Trainer, build_trainer, parameter_digest, resume, save, save_model

log = logging.getLogger("babelshard.train")


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def epoch_batches(trainer: Trainer) -> Iterator[MixedBatch]:
    """The rest of the current epoch's mixed batches, from where the state says."""
    state, data = trainer.state, trainer.config.data
    trainer.dataset.begin_epoch(state.epoch, state.consumed, state.worker_states)
    loader = DataLoader(
        trainer.dataset,
        batch_size=None,
        num_workers=data.workers,
        prefetch_factor=data.prefetch if data.workers else None,
        worker_init_fn=_worker_init if data.workers else None,
        pin_memory=trainer.env.device.startswith("cuda"),
        generator=torch.Generator(),  # leave the global RNG as an uninterrupted run would
    )
    return iter(loader)


def worker_message(error: UserError) -> str:
    """A loader worker's error re-raised by the DataLoader carries the worker's traceback in
    its message; the user's one line is the traceback's last, after the class name."""
    text = str(error)
    if "Original Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    name = type(error).__name__
    return last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith(name) else last


def next_batch(batches: Iterator[MixedBatch]) -> MixedBatch:
    """The loader's next batch; a worker's user error (e.g. too many failed shard reads)
    as the one line it was raised with."""
    try:
        batch = next(batches)
    except UserError as error:
        raise type(error)(worker_message(error)) from None
    return batch


def autocast(trainer: Trainer) -> contextlib.AbstractContextManager:
    if trainer.config.loop.precision == "bf16" and trainer.env.device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(trainer: Trainer, batches: Iterator[MixedBatch], clock: StepClock) -> tuple[dict[str, float], str]:
    """One optimizer step over ``accum_steps`` micro-batches."""
    accum = trainer.config.optim.accum_steps
    started = time.perf_counter()
    sums: defaultdict = defaultdict(float)
    samples: Counter = Counter()
    digests = []
    trainer.wrapped.train()
    for micro in range(accum):
        fetch = time.perf_counter()
        batch = next_batch(batches)
        clock.waited(time.perf_counter() - fetch)
        digests.append(batch_digest(batch))
        trainer.state.observe(batch.meta, digests[-1])
        trainer.dataset.error_budget.check_totals(trainer.state.counters())  # over the run, resumes included
        sync = micro == accum - 1 or not hasattr(trainer.wrapped, "no_sync")
        with contextlib.nullcontext() if sync else trainer.wrapped.no_sync():
            with autocast(trainer):
                terms = trainer.wrapped(batch.to(trainer.env.device).streams)
            (terms["loss"] / accum).backward()
        for name, value in terms.items():
            sums[name] += float(value.detach()) / accum
        samples.update({name: len(s.keys) for name, s in batch.streams.items()})
    if trainer.config.optim.grad_clip:
        sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(trainer.module.parameters(), trainer.config.optim.grad_clip))
    trainer.optimizer.step()
    trainer.scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.state.step += 1
    trainer.state.samples.update(samples)
    clock.step_done(time.perf_counter() - started, samples, sums)
    return dict(sums), "-".join(digests)


def log_step(trainer: Trainer, clock: StepClock, digest: str, bar: Any) -> None:
    report = clock.report(trainer.env.world)
    losses = mean_across({k: v for k, v in report.items() if isinstance(v, float) and k != "data_wait_fraction"})
    record = {
        "step": trainer.state.step,
        "epoch": trainer.state.epoch,
        "time": time.time(),
        "lr": trainer.scheduler.get_last_lr()[0],
        "batch_digest": digest,
        **report,
        **losses,
        "data": trainer.state.counters(),
    }
    trainer.log.write(record)
    if bar is not None:
        bar.set_postfix(loss=f"{record['loss']:.4f}", wait=f"{report['data_wait_fraction']:.2f}")
    clock.reset()


def stop_step(trainer: Trainer) -> int:
    stop = trainer.config.loop.stop_at_step
    return min(trainer.total_steps, stop) if stop else trainer.total_steps


def run_epoch(trainer: Trainer, bar: Any) -> bool:
    """Train until the epoch's budget is spent (False) or the run must stop (True)."""
    loop = trainer.config.loop
    batches = epoch_batches(trainer)
    clock = StepClock()
    while trainer.state.consumed < trainer.batches_per_epoch:
        if trainer.state.step >= stop_step(trainer):
            return True
        _, digest = train_step(trainer, batches, clock)
        step = trainer.state.step
        if step % loop.log_every == 0 or step == trainer.total_steps:
            log_step(trainer, clock, digest, bar)
        if loop.checkpoint_every and step % loop.checkpoint_every == 0:
            save(trainer)
        if bar is not None:
            bar.update(1)
    return trainer.state.step >= stop_step(trainer)


def progress_bar(trainer: Trainer) -> Any:
    if not (trainer.config.loop.progress and trainer.env.main):
        return None
    from tqdm import tqdm

    return tqdm(total=trainer.total_steps, initial=trainer.state.step, desc=trainer.config.name, unit="step")


def write_summary(trainer: Trainer, resumed_from: str | None) -> None:
    summary = {
        "rank": trainer.env.rank,
        "world": trainer.env.world,
        "resumed_from": resumed_from,
        "parameters": parameter_digest(trainer.module),
        "state": trainer.state.as_json(),
        "total_steps": trainer.total_steps,
        "steps_per_epoch": trainer.steps_per_epoch,
    }
    path = os.path.join(trainer.config.loop.output, f"summary-rank{trainer.env.rank}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1, sort_keys=True)


def train(config: TrainConfig) -> TrainState:
    """Run (or resume) the configured training; returns the final progress."""
    if config.loop.threads:
        torch.set_num_threads(config.loop.threads)
    env = init_distributed(config.loop.device)
    os.makedirs(config.loop.output, exist_ok=True)
    trainer = build_trainer(config, env)
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
    trainer.log.close()
    if bar is not None:
        bar.close()
    return trainer.state
