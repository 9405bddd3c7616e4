"""The train stage's processes (train.devices): one a GPU of the machine by default, started through torch's
launcher (torchrun's, torch.distributed.launcher) by the stage itself, so that dvc.yaml's `python -m stages.train`
uses every GPU. A stage that torchrun started, by hand or from here, runs as it is (one machine or several:
docs/training.md)."""

import os
import sys
import uuid
from typing import Literal

import torch
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from summarization.cli import report
from summarization.data import usable_cores
from summarization.errors import UserError

LAUNCHED = "WORLD_SIZE"  # torchrun sets it in every process it starts


def processes(devices: Literal["auto"] | int) -> int:
    """How many processes train.devices asks for: auto is every visible GPU (1 on a CPU); a number is that many
    GPUs, or CPU processes (DDP over gloo) where there is no CUDA."""
    gpus = torch.cuda.device_count()
    if devices == "auto":
        return max(gpus, 1)
    if gpus and devices > gpus:
        raise UserError(
            f"train.devices: {devices}, but this machine shows {gpus} CUDA GPU(s): use auto or at most {gpus}"
        )
    return devices


def launch(devices: Literal["auto"] | int, module: str) -> None:
    """Run `module` as processes(devices) processes on this machine, as `torchrun --standalone` does, then exit with
    their status; return at once where torchrun started this process, or where one process on at most one GPU is
    all there is to run."""
    if LAUNCHED in os.environ:
        return
    count = processes(devices)
    # One process beside several GPUs goes through the launcher too: alone, Trainer would spread it over all of
    # them (DataParallel), not keep to the one GPU asked for.
    if count == 1 and torch.cuda.device_count() <= 1:
        return
    report("train", f"starting {count} processes through torch's launcher (train.devices: {devices})")
    # Each process gets its share of the cores for torch's threads (torchrun would give each one thread)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // count)))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=count,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
    )  # --standalone's
    try:
        elastic_launch(config, sys.executable)("-m", module)
    except ChildFailedError as error:  # each process has printed its own error; torchrun's report would add a page
        status = error.get_first_failure()[1].exitcode
        sys.exit(status if status > 0 else 128 - status)  # killed by a signal: 128 + its number, as a shell says
    sys.exit(0)
