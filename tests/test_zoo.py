"""The variant zoo: each loss's value and sign on small hand-made inputs, the protocol
hooks (weight clipping, spectral norm, BEGAN's k_t), architectures, pairings, resume."""


import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import variants
from bench.train.checkpoints import load_checkpoint
from bench.cli import app
from bench.train.protocol import init_state, train_step
from bench.records import deterministic_view, load_record
from variants.variant import count_params
from test_reliability import assert_resume_gives, records_in, sigkill_after_a_checkpoint  # noqa: E402  (tests/ is on sys.path)
from variants.archs import spectral_norm_layers
from variants.losses import LOSSES, dragan_penalty, r1_penalty

runner = CliRunner()
CPU = torch.device("cpu")


class Fixed(nn.Module):
    """A 'discriminator' that returns a fixed output per image (its first pixel), with a
    dummy parameter so optimizers have something to hold."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return self.scale * x.flatten(1)[:, :1]


def images(*values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)


# ---------------------------------------------------------------- losses on hand-made inputs

def test_hinge_loss_of_a_perfect_discriminator_is_zero():
    D, hinge = Fixed(), LOSSES["hinge"]
    real, fake = images(1.0, 2.0, 5.0), images(-1.0, -3.0, -1.5)
    assert hinge.d_loss(D, real, fake).item() == 0.0
    assert hinge.d_loss(D, images(0.0), images(0.0)).item() == 2.0  # an undecided D pays 1 + 1
    assert hinge.g_loss(D, fake, real).item() == pytest.approx(11 / 6)  # -E D(G(z))


def test_minimax_g_gradient_saturates_where_non_saturating_does_not():
    # A confident D: D(G(z)) = -10, i.e. sigma = 4.5e-5.
    grads = {}
    for name in ("mm", "ns"):
        fake = images(-10.0).requires_grad_(True)
        LOSSES[name].g_loss(Fixed(), fake, images(1.0)).backward()
        grads[name] = fake.grad.abs().item()
    assert grads["mm"] < 1e-4  # sigma(-10)
    assert grads["ns"] > 0.99  # 1 - sigma(-10)
    # Same D loss for both; mm's G loss is -softplus(D(G(z))) = log(1 - sigma(D(G(z)))).
    assert LOSSES["mm"].g_loss(Fixed(), images(0.0), images(0.0)).item() == pytest.approx(-torch.log(torch.tensor(2.0)))


def test_ragan_matches_hand_computed_values():
    # D(x) = (1, 3), D(G(z)) = (0, -2): C_r = (2, 4), C_f = (-2, -4).
    D, real, fake = Fixed(), images(1.0, 3.0), images(0.0, -2.0)
    sp = lambda t: torch.log1p(torch.exp(torch.tensor(t))).item()  # noqa: E731  softplus
    d_expected = (sp(-2) + sp(-4)) / 2 + (sp(-2) + sp(-4)) / 2
    g_expected = (sp(2) + sp(4)) / 2 + (sp(2) + sp(4)) / 2
    assert LOSSES["ragan"].d_loss(D, real, fake).item() == pytest.approx(d_expected, rel=1e-6)
    assert LOSSES["ragan"].g_loss(D, fake, real).item() == pytest.approx(g_expected, rel=1e-6)


def test_gradient_penalties_are_zero_for_a_constant_d():
    constant = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))
    nn.init.zeros_(constant[1].weight)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    assert r1_penalty(constant, real).item() == 0.0
    # DRAGAN's penalty pulls the gradient norm to 1, so a constant D pays exactly 1.
    assert dragan_penalty(constant, real).item() == 1.0
    # ...and a D with unit input gradient pays nothing.
    unit = nn.Sequential(nn.Flatten(), nn.Linear(784, 1, bias=False))
    nn.init.zeros_(unit[1].weight)
    with torch.no_grad():
        unit[1].weight[0, 0] = 1.0
    assert dragan_penalty(unit, real).item() == pytest.approx(0.0, abs=1e-12)
    assert r1_penalty(unit, real).item() == pytest.approx(1.0)


def test_r1_and_dragan_penalties_add_to_ns_with_their_weights():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    ns = LOSSES["ns"].d_loss(D, real, fake)
    assert LOSSES["r1"].d_loss(D, real, fake, gamma=10.0).item() == pytest.approx(
        (ns + 5.0 * r1_penalty(D, real)).item(), rel=1e-6)
    # Linear D: grad is the weight row everywhere, so DRAGAN's penalty is (||w|| - 1)^2.
    expected = (D[1].weight.norm() - 1).square().item()
    assert LOSSES["dragan"].d_loss(D, real, fake, gp_weight=10.0).item() == pytest.approx(
        ns.item() + 10 * expected, rel=1e-5)


# ---------------------------------------------------------------- hooks in the protocol

def test_wgan_clipping_keeps_every_critic_weight_in_range(tiny_images):
    variant = variants.get_variant("wgan")
    state = init_state(variant, tiny_images, CPU, seed=0)
    assert isinstance(state.opt_d, torch.optim.RMSprop) and state.opt_d.defaults["lr"] == 5e-5
    for _ in range(2):
        train_step(variant, state)
    clip = torch.tensor(variant.loss_options["clip"])  # float32, as the weights
    for name, p in state.D.named_parameters():
        assert p.abs().max() <= clip, name
    assert any(p.abs().max() == clip for p in state.D.parameters())  # the clip did bite


def test_spectral_norm_keeps_each_d_layer_near_one(tiny_images):
    variant = variants.get_variant("sngan")
    state = init_state(variant, tiny_images, CPU, seed=0)
    for _ in range(4):
        train_step(variant, state)
    layers = spectral_norm_layers(state.D)
    assert len(layers) == 3  # conv, conv, linear
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), 2).item()
        assert abs(sigma - 1) < 0.05, (layer, sigma)


def test_began_k_stays_in_unit_interval_and_moves(tiny_images):
    variant = variants.get_variant("began")
    state = init_state(variant, tiny_images, CPU, seed=0)
    assert state.loss_state["k"].item() == 0.0  # k_0
    lambda_k = variant.loss_options["lambda_k"]
    state.loss_state["k"].fill_(0.5)  # inside the interval, so each step's move shows unclipped
    for _ in range(6):
        before = state.loss_state["k"].item()
        train_step(variant, state)
        after, balance = state.loss_state["k"].item(), state.loss_state["balance"].item()
        assert balance != 0 and after == pytest.approx(before + lambda_k * balance, abs=1e-6)
        assert 0.0 <= after <= 1.0
    # Pushed past the ends, the update clips.
    for balance, expected in ((5e3, 1.0), (-5e3, 0.0)):
        state.loss_state["balance"] = torch.tensor(balance)
        variant.after_d_step(state.D, state.loss_state)
        assert state.loss_state["k"].item() == expected
    # The G loss is the reconstruction error of the fakes; D's loss weights it by -k.
    k = state.loss_state["k"]
    real, fake = state.batches.next(), state.G(torch.randn(64, variant.hparams.z_dim)).detach()
    d = variant.d_loss(state.D, real, fake, state.loss_state)
    l_real = (real - state.D(real)).abs().mean()
    l_fake = (fake - state.D(fake)).abs().mean()
    assert d.item() == pytest.approx((l_real - k * l_fake).item(), rel=1e-5)
    gamma = variant.loss_options["gamma"]
    assert state.loss_state["convergence"].item() == pytest.approx(
        (l_real + (gamma * l_real - l_fake).abs()).item(), rel=1e-5)


def test_the_g_loss_sees_the_last_real_batch_and_other_losses_draw_nothing_more(tiny_images):
    """RaGAN's G step reuses D's last real batch: the data stream is the one every loss sees."""
    positions = {}
    for name in ("dcgan", "ragan"):
        variant = variants.get_variant(name)
        state = init_state(variant, tiny_images, CPU, seed=0)
        train_step(variant, state)
        positions[name] = (state.batches.position, torch.randn(1).item())  # RNG consumed alike
    assert positions["dcgan"] == positions["ragan"]


# ---------------------------------------------------------------- architectures and pairings

def test_infogan_parameter_counts_match_compare_gans_layer_list():
    """compare_gan (src/gans/abstract_gan.py, v1) on MNIST, z 64:
    G: linear z->1024, BN(1024), linear 1024->128*7*7, BN(6272), deconv 128->64 4x4, BN(64), deconv 64->1 4x4
    D: conv 1->64 4x4, conv 64->128 4x4, BN(128), linear 6272->1024, BN(1024), linear 1024->1
    (a BN layer has a scale and a shift per channel; every conv/linear has a bias)."""
    z, c = 64, 1
    g = (z * 1024 + 1024) + 2 * 1024 + (1024 * 6272 + 6272) + 2 * 6272 + (128 * 64 * 16 + 64) + 2 * 64 \
        + (64 * c * 16 + c)
    d_no_bn = (c * 64 * 16 + 64) + (64 * 128 * 16 + 128) + (6272 * 1024 + 1024) + (1024 + 1)
    d = d_no_bn + 2 * 128 + 2 * 1024
    assert (g, d, d_no_bn) == (6_642_241, 6_559_169, 6_556_865)
    G, D = variants.ARCHS["infogan"]((1, 28, 28), z, 64)
    assert (count_params(G), count_params(D)) == (g, d)
    _, D = variants.ARCHS["infogan"]((1, 28, 28), z, 64, d_norm="none")
    assert count_params(D) == d_no_bn
    fake = G(torch.randn(4, z))
    assert fake.shape == (4, 1, 28, 28) and D(fake).shape == (4, 1)
    # The pairing trains at compare_gan's size (z 64, width 64) and drops BN for a penalty.
    mixed = variants.combine("infogan", "wgan-gp")
    assert (mixed.hparams.z_dim, mixed.hparams.width, mixed.arch_options) == (64, 64, {"d_norm": "none"})


def test_named_presets_are_still_exact_pairings():
    from dataclasses import replace

    for arch, loss, name in (("dcgan", "ls", "lsgan"), ("dcgan", "wgan-gp", "wgan-gp"), ("dcgan", "mm", "mm-gan"),
                             ("began", "began", "began")):
        assert replace(variants.combine(arch, loss), name=name, paper="") == replace(variants.get_variant(name), paper="")


@pytest.mark.parametrize("arch, loss, needs", [("dcgan", "began", "reconstruction"), ("mlp", "began", "reconstruction"),
                                               ("began", "ns", "one value per image"),
                                               ("began", "wgan-gp", "one value per image")])
def test_a_pairing_that_cannot_work_is_one_error_line(arch, loss, needs, tmp_path):
    with pytest.raises(variants.BadVariant, match=needs):
        variants.combine(arch, loss)
    result = runner.invoke(app, ["run", "--arch", arch, "--loss", loss, "--out", str(tmp_path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1 and "Traceback" not in line
    assert not records_in(tmp_path)


def test_every_logit_loss_trains_on_every_logit_architecture(tiny_images):
    logit_losses = [n for n, loss in LOSSES.items() if loss.d_output == "logit"]
    for arch in ("mlp", "dcgan"):
        for loss in logit_losses:
            variant = variants.combine(arch, loss).with_hparams(n_critic=1, batch_size=16)
            state = init_state(variant, tiny_images, CPU, seed=0)
            assert all(torch.isfinite(x) for x in train_step(variant, state)), (arch, loss)


def test_began_autoencoder_passes_its_input_through_at_initialisation():
    """An autoencoder D whose reconstruction hardly depends on its input can at first only
    learn the mean image, and BEGAN then has no game: with compare_gan's N(0, 0.02) weights
    this layout let through a per-pixel spread of about 4e-5 of these images' 0.6 (0.007 %);
    Glorot's weights let through about 0.4 %, and L(x) leaves the blank reconstruction's
    value within the first few hundred steps."""
    # Without BatchNorm (the recipe's D has it, and it would rescale a weak signal): the
    # layout where the initialisation alone decides what passes.
    began = variants.get_variant("began")
    torch.manual_seed(0)
    _, D = variants.ARCHS["began"]((1, 28, 28), began.hparams.z_dim, began.hparams.width,
                                   **{**began.arch_options, "d_norm": "none"})
    images = (torch.rand(64, 1, 28, 28) < 0.2).float() * 2 - 1  # sparse strokes on a -1 background
    with torch.no_grad():
        reconstruction = D(images)
    assert reconstruction.shape == images.shape
    assert reconstruction.std(0).mean() > 1e-3 * images.std(0).mean()


def test_began_nets_are_compare_gans_autoencoder_and_the_zoos_generator():
    """compare_gan's BEGAN D (4x4 convs and deconvs, LeakyReLU, a 64-unit code, BatchNorm
    after the code, the FC and the first deconv as the variant asks, none unless asked), G
    the dcgan variant's generator starting at MNIST's mean pixel; spectral_norm still applies
    to every D layer."""
    variant = variants.get_variant("began")
    torch.manual_seed(0)
    G, D = variant.build((1, 28, 28))
    convs = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert [m.kernel_size for m in convs] == [(4, 4)] * 4
    assert sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules()) == 3
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in D.modules())
    assert [m.out_features for m in D.modules() if isinstance(m, torch.nn.Linear)][0] == variant.arch_options["code"]
    dcgan_G, _ = variants.get_variant("dcgan").build((1, 28, 28))
    assert [type(m) for m in G] == [type(m) for m in dcgan_G]
    assert G[0].in_features == variant.hparams.z_dim
    with torch.no_grad():  # G's first images sit at the start pixel, not mid-grey
        start = G.eval()(torch.randn(256, variant.hparams.z_dim)).mean().item()
    assert start == pytest.approx(variant.arch_options["g_start_pixel"], abs=0.05)
    _, D_plain = variants.ARCHS["began"]((1, 28, 28), variant.hparams.z_dim, variant.hparams.width)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D_plain.modules())
    _, D_sn = variants.ARCHS["began"]((1, 28, 28), variant.hparams.z_dim, variant.hparams.width, spectral_norm=True)
    weighted = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]
    assert len(spectral_norm_layers(D_sn)) == len(weighted) == 6


def test_began_refuses_a_start_pixel_outside_tanhs_range():
    with pytest.raises(ValueError, match="g_start_pixel must be inside"):
        variants.ARCHS["began"]((1, 28, 28), 64, 8, g_start_pixel=-1.0)


# ---------------------------------------------------------------- resume

@pytest.mark.slow
@pytest.mark.parametrize("name, steps, every", [("began", 16, 8), ("r1-gan", 8, 2)])
def test_sigkill_then_resume_gives_the_uninterrupted_record(name, steps, every, mnist_dir, tmp_path):
    """As tests/test_reliability.py's test, for a stateful loss (BEGAN's k_t must come back
    from the checkpoint: on MNIST it leaves 0 at about step 6, so the first checkpoint is at
    step 8) and a gradient-penalty one."""
    run = ["run", "--variants", name, "--preset", "tiny", "--steps", str(steps), "--checkpoint-every", str(every),
           "--device", "cpu"]
    result = runner.invoke(app, [*run, "--out", str(tmp_path / "a"), "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    (path,) = records_in(tmp_path / "a")
    uninterrupted = deterministic_view(load_record(path))

    out = tmp_path / "b"
    sigkill_after_a_checkpoint(run, out, mnist_dir)
    (checkpoint,) = out.glob("checkpoints/*/*.pt")
    if name == "began":
        assert load_checkpoint(checkpoint)["state"]["loss_state"]["k"].item() > 0

    assert_resume_gives(run, out, mnist_dir, uninterrupted)
