"""--compile: the same training as eager, within a stated tolerance.

torch.compile reorders floating-point work, so trajectories are compared with a
tolerance rather than bitwise: over N_STEPS steps from one seed, every loss within
LOSS_RTOL of eager's. WGAN-GP's critic stays eager (its penalty needs a double
backward that aot_autograd cannot take), and its penalty gradients are checked too.
"""

import pytest
import torch

import variants
from bench.train.protocol import compiled_nets, init_state, train_step
from variants.losses import gradient_penalty

N_STEPS = 4
LOSS_RTOL = 1e-3


def trajectory(name, images, compile):
    torch._dynamo.reset()
    variant = variants.get_variant(name)
    state = init_state(variant, images, torch.device("cpu"), seed=0, compile=compile)
    return state, [torch.stack(train_step(variant, state)) for _ in range(N_STEPS)]


def test_compile_wraps_the_nets_it_names_and_the_wgan_gp_critic_stays_eager(tiny_images):
    """Which nets --compile wraps, without compiling them (that happens at their first call)."""
    variant = variants.get_variant("wgan-gp")
    assert compiled_nets(variant, True) == ("G",)
    assert compiled_nets(variants.get_variant("dcgan"), True) == ("G", "D")
    assert compiled_nets(variant, False) == ()
    state = init_state(variant, tiny_images, torch.device("cpu"), seed=0, compile=True)
    assert state.G._compiled_call_impl is not None and state.D._compiled_call_impl is None


# Compiling is what takes the time: tens of seconds per net on a CPU with a cold inductor cache.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcgan", "wgan-gp"])
def test_compiled_losses_follow_eager(name, tiny_images):
    _, eager = trajectory(name, tiny_images, compile=False)
    state, compiled = trajectory(name, tiny_images, compile=True)
    assert state.G._compiled_call_impl is not None  # the flag did compile G
    for step, (a, b) in enumerate(zip(eager, compiled), 1):
        torch.testing.assert_close(b, a, rtol=LOSS_RTOL, atol=1e-5, msg=f"{name} step {step}")


@pytest.mark.slow
def test_the_wgan_gp_critic_stays_eager_and_its_penalty_gradients_match(tiny_images):
    variant = variants.get_variant("wgan-gp")
    torch._dynamo.reset()
    eager = init_state(variant, tiny_images, torch.device("cpu"), seed=0)
    compiled = init_state(variant, tiny_images, torch.device("cpu"), seed=0, compile=True)
    assert compiled.D._compiled_call_impl is None
    grads = []
    for state in (eager, compiled):
        torch.manual_seed(1)
        real = state.batches.next()
        with torch.no_grad():
            fake = state.G(torch.randn(len(real), variant.hparams.z_dim))
        penalty = gradient_penalty(state.D, real, fake)
        grads.append(torch.autograd.grad(penalty, list(state.D.parameters()), allow_unused=True,
                                         materialize_grads=True))
    assert any(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
