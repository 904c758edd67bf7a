"""``babelshard train CONFIG``, killed with SIGKILL at a chosen point (run by test_resume.py).

    python killpoints.py POINT AT CONFIG

``mid_step``: inside optimizer step AT, after its backward pass, before the update.
``checkpoint_write``: while the checkpoint of step AT is written, half its bytes on disk.
``loader_prefetch``: a DataLoader worker kills the main process while it makes global
batch AT (epoch * batches per epoch + index), i.e. while batches are being prefetched.
``loader_worker``: the DataLoader worker making global batch AT is killed (as the
out-of-memory killer would); the main process goes on to fail.

Every loader worker appends its pid to ``<loop.output>.workers`` so a test can check
that none outlives the run. The hooks wrap the trainer's own functions; the run is otherwise the
CLI's.
"""
from __future__ import annotations

import io
import os
import signal
import sys

import torch
from torch.utils.data import get_worker_info

from babelshard.train.data.mixer import MixedStream
from babelshard.train.loop import steps


def die(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def kill_mid_step(at: int) -> None:
    build = steps.build_trainer

    def build_trainer(config, env):
        trainer = build(config, env)
        step = trainer.optimizer.step

        def optimizer_step(*args, **kwargs):
            if trainer.state.step + 1 == at:
                die(os.getpid())
            return step(*args, **kwargs)

        trainer.optimizer.step = optimizer_step
        return trainer

    steps.build_trainer = build_trainer


def kill_during_checkpoint_write(at: int) -> None:
    save = torch.save

    def torn_save(payload, target, *args, **kwargs):
        if isinstance(payload, dict) and payload.get("format") == "babelshard-checkpoint" and payload["state"]["step"] == at:
            buffer = io.BytesIO()
            save(payload, buffer, *args, **kwargs)
            target.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            target.flush()
            os.fsync(target.fileno())
            die(os.getpid())
        return save(payload, target, *args, **kwargs)

    torch.save = torn_save


def watch_loader(pids_file: str, at: int | None = None, victim: str = "main") -> None:
    """Every loader worker reports its pid; with ``at``, the worker making global batch
    ``at`` kills ``victim`` (the main process or itself)."""
    make_batch = MixedStream.make_batch
    reported = []

    def watched_make_batch(self, g, worker, batchers):
        if get_worker_info() is not None:
            if not reported:
                with open(pids_file, "a", encoding="utf-8") as handle:
                    handle.write(f"{os.getpid()}\n")
                reported.append(True)
            if at is not None and self.epoch * self.batches_per_epoch + g == at:
                die(os.getppid() if victim == "main" else os.getpid())
        return make_batch(self, g, worker, batchers)

    MixedStream.make_batch = watched_make_batch


def main() -> None:
    point, at, config = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    from babelshard.train.config import load_train_config

    pids_file = load_train_config(config).loop.output.rstrip("/") + ".workers"
    if point == "mid_step":
        kill_mid_step(at)
        watch_loader(pids_file)
    elif point == "checkpoint_write":
        kill_during_checkpoint_write(at)
        watch_loader(pids_file)
    else:
        watch_loader(pids_file, at, "main" if point == "loader_prefetch" else "worker")
    from babelshard.cli import main as cli

    sys.argv = ["babelshard", "train", config]
    sys.exit(cli())


if __name__ == "__main__":
    main()
