import pytest
import torch

import variants
from bench.train.protocol import init_state, train_step
from variants.losses import gradient_penalty

NAMES = variants.list_variants()


def test_the_eleven_variants_are_registered():
    assert {"vanilla", "dcgan", "wgan-gp", "lsgan", "mm-gan", "wgan", "dragan", "began", "sngan", "r1-gan",
            "ragan"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_generator_output_shape_and_range(name):
    torch.manual_seed(0)
    v = variants.get_variant(name)
    G, D = v.build((1, 28, 28))
    fake = G(torch.randn(8, v.hparams.z_dim))
    assert fake.shape == (8, 1, 28, 28)
    assert fake.min() >= -1 and fake.max() <= 1
    # A logit D gives one value per image (per pack of images when it packs, as PacGAN's);
    # an autoencoder D (BEGAN) its reconstruction.
    pack = v.arch_options.get("pack", 1)
    expected = {"logit": (8 // pack, 1), "image": (8, 1, 28, 28)}[variants.ARCH_SPECS[v.arch].d_output]
    assert D(fake).shape == expected


@pytest.mark.parametrize("name", NAMES)
def test_one_step_gives_finite_losses_and_changes_both_nets(name, tiny_images):
    v = variants.get_variant(name)
    state = init_state(v, tiny_images, torch.device("cpu"), seed=0)
    before = [[p.detach().clone() for p in net.parameters()] for net in (state.G, state.D)]
    d_loss, g_loss = train_step(v, state)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    # Every weight matrix or kernel moves. (Biases may not: a Wasserstein critic's output
    # bias cancels out of D(fake) - D(real) and the penalty, so its gradient is exactly 0.)
    for net, old in zip((state.G, state.D), before):
        unmoved = [n for (n, p), q in zip(net.named_parameters(), old) if p.dim() > 1 and torch.equal(p, q)]
        assert not unmoved, f"{name}: {unmoved} did not move"
    assert all(p.requires_grad for p in state.D.parameters())  # unfrozen after the G step


def test_wgan_gp_critic_has_no_batchnorm():
    _, D = variants.get_variant("wgan-gp").build((1, 28, 28))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_gradient_penalty_value_and_gradient_match_a_direct_computation():
    torch.manual_seed(0)
    _, D = variants.get_variant("wgan-gp").build((1, 28, 28))
    real, fake = torch.rand(6, 1, 28, 28) * 2 - 1, torch.rand(6, 1, 28, 28) * 2 - 1

    torch.manual_seed(1)
    penalty = gradient_penalty(D, real, fake)
    ours = torch.autograd.grad(penalty, list(D.parameters()), allow_unused=True, materialize_grads=True)

    # Direct: per sample, the input gradient of D at the interpolate, by its own backward.
    torch.manual_seed(1)
    eps = torch.rand(6, 1, 1, 1)
    terms = []
    for i in range(6):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        terms.append((g.pow(2).sum().sqrt() - 1) ** 2)
    direct = torch.stack(terms).mean()
    expected = torch.autograd.grad(direct, list(D.parameters()), allow_unused=True, materialize_grads=True)

    assert penalty.item() > 0
    torch.testing.assert_close(penalty, direct, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in ours)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_unknown_variant_suggests_close_names():
    with pytest.raises(variants.UnknownVariant, match="did you mean dcgan"):
        variants.get_variant("dcgn")
    assert [v.name for v in variants.select_variants("lsgan, dcgan")] == ["lsgan", "dcgan"]
    assert len(variants.select_variants("all")) == len(NAMES)


def test_an_architecture_and_a_loss_combine_into_a_trainable_variant(tiny_images):
    from dataclasses import replace

    # The named presets are exactly such pairings...
    assert replace(variants.combine("dcgan", "ls"), name="lsgan", paper="") == replace(
        variants.get_variant("lsgan"), paper=""
    )
    assert variants.combine("dcgan", "wgan-gp").arch_options == {"d_norm": "none"}
    # ...and new ones train.
    mixed = variants.combine("mlp", "wgan-gp")
    assert (mixed.hparams.n_critic, mixed.hparams.width, mixed.loss_options) == (5, 256, {"gp_weight": 10.0})
    state = init_state(mixed, tiny_images, torch.device("cpu"), seed=0)
    assert all(torch.isfinite(loss) for loss in train_step(mixed, state))
    with pytest.raises(variants.UnknownVariant, match="unknown loss 'hinge2'"):
        variants.combine("dcgan", "hinge2")
