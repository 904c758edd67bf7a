"""Process group set-up from ``torchrun``'s environment (gloo on CPU, NCCL on CUDA) and
the collective helpers the objectives and the loop use."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from babelshard.configbase import ConfigError


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str, local_rank: int) -> str:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("loop.device is cuda but no CUDA device is available")
        torch.cuda.set_device(local_rank)
        return f"cuda:{local_rank}"
    return "cpu"


def init_distributed(preference: str = "auto") -> DistEnv:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistEnv(rank, world, local_rank, device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows; gradients flow back to each rank's own rows."""
    if not distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), dim=0)


def local_offset(rows: int) -> int:
    """Where this rank's rows start in a gathered tensor (equal rows per rank)."""
    return dist.get_rank() * rows if distributed() else 0


def mean_across(values: dict[str, float]) -> dict[str, float]:
    if not distributed() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, tensor.tolist())}


def barrier() -> None:
    if distributed():
        dist.barrier()
