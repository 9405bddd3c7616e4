"""The train stage's processes (train.devices): one a GPU of the machine by default, started through torch's
launcher (torchrun) by the stage itself, so dvc.yaml's `python -m stages.train` uses every GPU. A stage that
torchrun started, by hand or from here, runs as it is (one machine or several: README)."""
import os
import sys
from typing import Literal

import torch

from summarization.cli import UserError, report

LAUNCHED = "WORLD_SIZE"  # torchrun sets it in every process it starts


def processes(devices: Literal["auto"] | int) -> int:
    """How many processes train.devices asks for: auto is every visible GPU (1 on a CPU); a number is that many
    GPUs, or CPU processes (DDP over gloo) where there is no CUDA."""
    gpus = torch.cuda.device_count()
    if devices == "auto":
        return max(gpus, 1)
    if gpus and devices > gpus:
        raise UserError(f"train.devices: {devices}, but this machine shows {gpus} CUDA GPU(s): use auto or at most {gpus}")
    return devices


def relaunch(devices: Literal["auto"] | int, module: str) -> None:
    """Replace this process by torchrun running `module` as processes(devices) processes, its exit status theirs;
    return where torchrun started this one, or where one process on at most one GPU is all there is to run."""
    if LAUNCHED in os.environ:
        return
    count = processes(devices)
    # One process beside several GPUs goes through torchrun too: alone, Trainer would spread it over all of them
    # (DataParallel), not keep to the one GPU asked for.
    if count == 1 and torch.cuda.device_count() <= 1:
        return
    report("train", f"starting {count} processes through torchrun (train.devices: {devices})")
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={count}", "-m", module])
