"""Training under torchrun: this process's place in the job, process groups, DDP, and the
check that every rank ends with the same weights. torch is imported inside each function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vaezip.errors import VaezipError
from vaezip.models.registry import tensor_digest


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (from the environment torchrun sets)."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_from_env() -> Distributed | None:
    """A Distributed when launched by torchrun with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(dist: Distributed, device: str) -> str:
    import torch

    if device == "cuda":
        torch.cuda.set_device(dist.local_rank)
        device = f"cuda:{dist.local_rank}"
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return device


def wrap_model(model, device: str):
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    return DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(values, device: str):
    import torch

    buffer = values.to(device)
    torch.distributed.all_reduce(buffer)
    return buffer.cpu()


def check_ranks_agree(model, device: str) -> None:
    """Every process must end with the same weights; a silent DDP desync is a bug."""
    import torch

    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    digest = torch.frombuffer(bytearray.fromhex(tensor_digest(state, model.config)),
                              dtype=torch.uint8).to(device)
    gathered = [torch.zeros_like(digest) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, digest)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise VaezipError("distributed training ended with different weights on different "
                          "ranks; nothing was registered")
