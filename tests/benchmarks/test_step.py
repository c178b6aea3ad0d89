"""pytest-benchmark timing of one training step (`bench.train.protocol.train_step`: one
generator update with its n_critic D updates) per variant, on the CPU and, where
there is one, on CUDA.

`make bench` saves the timings as a baseline for this machine and device;
`make bench-compare` fails when a median got more than 15% slower. Under
`--benchmark-disable` (the plain test run) each test still runs the step once and
checks its losses, so these cannot rot between benchmark runs.
"""


import pytest
import torch

import variants
from bench.devices import synchronize
from bench.train.protocol import init_state, train_step

pytestmark = pytest.mark.slow

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])



@pytest.mark.parametrize("name", variants.list_variants())
@pytest.mark.parametrize("device_name", DEVICES)
def test_one_training_step(benchmark, device_name, name, mnist):
    device = torch.device(device_name)
    variant = variants.get_variant(name)
    # Built once, outside the timing: every round continues training the same state,
    # as the real loop does.
    state = init_state(variant, mnist["train_images"], device, seed=0)

    def step():
        losses = train_step(variant, state)
        synchronize(device)  # CUDA runs asynchronously: time the work, not its launch
        return losses

    hp = variant.hparams
    benchmark.group = f"train_step {device_name}"
    benchmark.extra_info.update(variant=name, device=device_name, batch_size=hp.batch_size, n_critic=hp.n_critic,
                                images_per_step=hp.batch_size * hp.n_critic, torch_threads=torch.get_num_threads())
    d_loss, g_loss = benchmark.pedantic(step, rounds=10, warmup_rounds=2, iterations=1)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert state.step == (1 if benchmark.disabled else 12)
