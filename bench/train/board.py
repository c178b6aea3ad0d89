"""A run's TensorBoard log (`--tensorboard DIR`): one folder per run, `DIR/<run id>`.

The loop calls `log` at its log points, after their training seconds are banked and before
the clock starts again, and the runner gives it a memory window of its own: no step time,
training second or training memory peak includes the writing. The sample grid comes from
the fixed latent batch of the run's PNG grid (its own RNG), so the training RNG never moves.

Scalars, against the generator step:

- `loss/d`, `loss/g`: the mean losses since the previous log point (the record's curve);
- `diagnostics/<name>`: the loss's diagnostics, means over the D steps since then;
- `curve/<fid key>`: the curve FID at curve points (`fid_mnist`, or `fid_stacked`);
- `speed/images_per_s`: real images per training second since the previous log point;
- `final/<figure>`: the final evaluation's figures and `train_images_per_s`, at the last step;

the image `samples` at each curve point, and the run's configuration and status as a
session of the HParams plug-in, whose metric columns are the scalars above.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from bench.train.protocol import grid, grid_images
from variants import Variant

# A log point's own keys; any other number in it is a curve figure from the evaluator.
POINT_KEYS = ("step", "images_seen", "train_s", "d_loss", "g_loss", "diagnostics")


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Board:
    def __init__(self, folder: Path, variant: Variant, device: torch.device, images_per_step: int,
                 resumed_at: int = 0, previous: dict | None = None):
        """`resumed_at`: the step of the checkpoint a resumed run starts from; `previous`: its
        last log point before that, if any."""
        self.folder = Path(folder)
        self.variant, self.device, self.images_per_step = variant, device, images_per_step
        # A resumed run logs again the steps after its checkpoint: TensorBoard hides what the
        # interrupted attempt had written from there on.
        self.writer = SummaryWriter(str(self.folder), purge_step=resumed_at + 1 if resumed_at else None)
        self.previous = previous

    def log(self, point: dict, G: torch.nn.Module) -> None:
        step, add = point["step"], self.writer.add_scalar
        for tag, key in (("loss/d", "d_loss"), ("loss/g", "g_loss")):
            if point[key] is not None:  # None: the run diverged here
                add(tag, point[key], step)
        for name, value in point.get("diagnostics", {}).items():
            if value is not None:
                add(f"diagnostics/{name}", value, step)
        figures = {k: v for k, v in point.items() if k not in POINT_KEYS and number(v)}
        for key, value in figures.items():
            add(f"curve/{key}", value, step)
        rate = images_per_s(point, self.previous, self.images_per_step)
        if rate is not None:
            add("speed/images_per_s", rate, step)
        if figures:
            self.writer.add_image("samples", grid(grid_images(self.variant, G, self.device)), step)
        self.previous = point
        self.writer.flush()  # TensorBoard shows each log point as it comes, not minutes later

    def finish(self, record: dict) -> None:
        """The final figures and the HParams session, from the run's record; then close."""
        step, figures = record["budget"]["g_steps"], final_figures(record)
        for tag, value in figures.items():
            self.writer.add_scalar(tag, value, step)
        # No experiment summary: TensorBoard takes only the first it finds, so the HParams tab
        # of a study builds its columns from every run's session instead.
        _, session_start, session_end = hparams(hparam_values(record), figures)
        self.writer.file_writer.add_summary(session_start, step)
        self.writer.file_writer.add_summary(session_end, step)
        self.close()

    def close(self) -> None:
        self.writer.close()


def images_per_s(point: dict, previous: dict | None, images_per_step: int) -> float | None:
    """Real images per training second since the previous log point; for a run's first, since
    its warm-up step, whose seconds training seconds leave out."""
    images, seconds = (previous["images_seen"], previous["train_s"]) if previous else (images_per_step, 0.0)
    images, seconds = point["images_seen"] - images, point["train_s"] - seconds
    return images / seconds if images > 0 and seconds > 0 else None


def final_figures(record: dict) -> dict:
    """The record's figures (sample counts aside) under `final/`."""
    metrics = record.get("metrics") or {}
    figures = {f"final/{k}": v for k, v in metrics.items() if number(v) and not k.startswith("n_")}
    rate = (record.get("systems") or {}).get("train_images_per_s")
    if number(rate):
        figures["final/train_images_per_s"] = rate
    return figures


def hparam_values(record: dict) -> dict:
    """The run's configuration as HParams values (numbers and strings), named as
    `gan-bench list` and the study spaces name them."""
    config = record["config"]
    hp = dict(config["hparams"])
    betas = hp.pop("betas", None) or ()
    values = {"variant": record["variant"], "arch": config["arch"], "loss": config["loss"], "seed": record["seed"],
              "dataset": config["dataset"], "preset": config["preset"], "budget": config["budget"],
              "status": record["status"], **hp, **dict(zip(("beta1", "beta2"), betas)),
              **{f"arch.{k}": v for k, v in config.get("arch_options", {}).items()},
              **{f"loss.{k}": v for k, v in config.get("loss_options", {}).items()}}
    study = record.get("study")
    if study:
        values.update({"study.config": study["config_index"], "study.phase": study["phase"]})
    return {k: v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else json.dumps(v)
            for k, v in values.items() if v is not None}
