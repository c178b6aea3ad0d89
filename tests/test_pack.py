"""PacGAN's packing (Lin et al. 2018, arXiv:1712.04086): D judges packs of images, the
losses and penalties take packs as D's samples, pack 1 is the unpacked net, and the
named variant pacdcgan2."""

import json
from dataclasses import replace

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.train.protocol import init_state, train_step
from variants.variant import count_params
from variants.archs import ARCH_SPECS, ARCHS, Packed
from variants.losses import LOSSES, dragan_penalty, gradient_penalty, input_gradient, per_sample_weights, r1_penalty
from variants.variant import check_variant

runner = CliRunner()
CPU = torch.device("cpu")
LOGIT_ARCHS = ["mlp", "dcgan", "infogan"]
LOGIT_LOSSES = [name for name, loss in LOSSES.items() if loss.d_output == "logit"]
SHAPES = [(1, 28, 28), (3, 28, 28)]  # MNIST, Stacked MNIST


def build_d(arch, shape, **options):
    """A small D of `arch` (width 8: seconds for every architecture, infogan included)."""
    return ARCHS[arch](shape, 16, 8, **options)[1]


def first_layer_key(arch):
    return "1.weight" if arch == "mlp" else "0.weight"  # mlp's D starts with Flatten


def packs_of(images, pack):
    """Consecutive images side by side on the channel axis, written out pack by pack."""
    return torch.stack([torch.cat(list(images[i:i + pack]), dim=0) for i in range(0, len(images), pack)])


# ---------------------------------------------------------------- the packed D

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arch", LOGIT_ARCHS)
def test_a_packed_d_gives_one_value_per_pack(arch, shape):
    torch.manual_seed(0)
    for pack, batch in ((2, 6), (3, 6), (4, 8)):
        D = build_d(arch, shape, pack=pack)
        assert isinstance(D, Packed) and D.pack == pack
        assert D(torch.randn(batch, *shape)).shape == (batch // pack, 1)
    # With the other D options too: a penalty's critic (no BatchNorm) and SNGAN's.
    if arch != "mlp":
        D = build_d(arch, shape, pack=2, d_norm="none", spectral_norm=True)
        assert D(torch.randn(4, *shape)).shape == (2, 1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arch", LOGIT_ARCHS)
def test_pack_1_is_the_unpacked_net(arch, shape):
    torch.manual_seed(0)
    plain = build_d(arch, shape)
    torch.manual_seed(0)
    one = build_d(arch, shape, pack=1)
    assert type(one) is type(plain) is nn.Sequential  # not wrapped: checkpoints keep their keys
    assert repr(one) == repr(plain)
    assert list(one.state_dict()) == list(plain.state_dict())
    assert count_params(one) == count_params(plain)
    assert all(torch.equal(a, b) for a, b in zip(one.state_dict().values(), plain.state_dict().values()))
    x = torch.randn(6, *shape)
    assert torch.equal(one(x), plain(x))


def test_dcgan_d_at_pack_1_has_the_hand_counted_size():
    """conv C->w 4x4, conv w->2w 4x4, BN(2w), linear 2w*7*7->1 at width 32, as dcgan trains it."""
    for channels in (1, 3):
        expected = (channels * 32 * 16 + 32) + (32 * 64 * 16 + 64) + 2 * 64 + (64 * 49 + 1)
        assert count_params(ARCHS["dcgan"]((channels, 28, 28), 100, 32, pack=1)[1]) == expected


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arch", LOGIT_ARCHS)
def test_only_the_first_layer_grows_with_the_pack(arch, shape):
    one = dict(build_d(arch, shape).named_parameters())
    for pack in (2, 3):
        packed = {name.removeprefix("net."): p for name, p in build_d(arch, shape, pack=pack).named_parameters()}
        assert packed.keys() == one.keys()
        changed = [name for name in one if packed[name].shape != one[name].shape]
        assert changed == [first_layer_key(arch)]
        assert packed[changed[0]].shape[1] == pack * one[changed[0]].shape[1]  # input channels (mlp: inputs)
        grown = sum(p.numel() for p in packed.values()) - sum(p.numel() for p in one.values())
        assert grown == (pack - 1) * one[changed[0]].numel()


def test_a_pack_is_judged_jointly():
    torch.manual_seed(0)
    D = build_d("dcgan", (1, 28, 28), pack=2).eval()  # eval: BatchNorm's batch statistics would couple packs
    x = torch.randn(6, 1, 28, 28)
    out = D(x)
    # Consecutive images side by side on the channel axis, then the unpacked net.
    torch.testing.assert_close(out, D.net(packs_of(x, 2)), rtol=0, atol=0)
    for changed in (2, 3):  # either image of the second pack
        y = x.clone()
        y[changed] = torch.randn(1, 28, 28)
        new = D(y)
        assert torch.equal(new[0], out[0]) and torch.equal(new[2], out[2])
        assert not torch.equal(new[1], out[1])


@pytest.mark.parametrize("pack, batch", [(2, 5), (3, 8), (4, 6)])
def test_a_batch_that_does_not_split_into_packs_is_a_clear_error(pack, batch):
    D = build_d("dcgan", (1, 28, 28), pack=pack)
    with pytest.raises(ValueError, match=f"a batch of {batch} images cannot be split into packs of {pack}"):
        D(torch.randn(batch, 1, 28, 28))
    with pytest.raises(ValueError, match=f"a batch of {batch} images cannot be split into packs of {pack}"):
        gradient_penalty(D, torch.randn(batch, 1, 28, 28), torch.randn(batch, 1, 28, 28))


@pytest.mark.parametrize("pack", [0, -2, 2.0, "2", True])
def test_a_builder_refuses_a_pack_that_is_not_a_positive_int(pack):
    with pytest.raises(ValueError, match="pack must be a positive integer"):
        build_d("dcgan", (1, 28, 28), pack=pack)


# ---------------------------------------------------------------- losses and penalties

@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
@pytest.mark.parametrize("loss", LOGIT_LOSSES)
def test_every_logit_loss_trains_both_nets_through_a_packed_d(arch, loss, tiny_images):
    paired = variants.combine(arch, loss)
    variant = replace(paired, arch_options={**paired.arch_options, "pack": 2}).with_hparams(n_critic=1, batch_size=16)
    state = init_state(variant, tiny_images, CPU, seed=0)
    assert isinstance(state.D, Packed)
    rows = []
    state.D.register_forward_hook(lambda module, args, output: rows.append(tuple(output.shape)))
    d_loss, g_loss = train_step(variant, state)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert rows and set(rows) == {(8, 1)}  # the losses saw one value per pack
    # train_step leaves each net's last gradients in place: D's from its step, G's from its.
    for net in (state.G, state.D):
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), (arch, loss)
        assert any(g.abs().sum() > 0 for g in grads)
    first = dict(state.D.net.named_parameters())[first_layer_key(arch)]
    assert first.grad.abs().sum() > 0


def linear_packed_d(weights):
    """D(pack) = <w, pack> on 2x2 single-channel images packed by 2: its input gradient is w
    for every pack, so each penalty is known in closed form."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(8, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([weights]))
    return Packed(net, 2)


def test_gradient_penalties_take_the_norm_per_pack():
    torch.manual_seed(0)
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    # Per pack ||w|| = 1; per image the norms would be 0.6 and 0.8 (a penalty of 0.1).
    D = linear_packed_d([0.6, 0, 0, 0, 0.8, 0, 0, 0])
    grad = input_gradient(D, real)
    assert grad.shape == (3, 8)
    torch.testing.assert_close(grad, D.net[1].weight.expand(3, 8))
    assert gradient_penalty(D, real, fake).item() == pytest.approx(0.0, abs=1e-12)
    assert dragan_penalty(D, real).item() == pytest.approx(0.0, abs=1e-12)
    assert r1_penalty(D, real).item() == pytest.approx(1.0)
    # Per pack ||w|| = sqrt 2; per image each norm would be 1 (no penalty).
    D = linear_packed_d([1, 0, 0, 0, 1, 0, 0, 0])
    assert gradient_penalty(D, real, fake).item() == pytest.approx((2 ** 0.5 - 1) ** 2)
    assert dragan_penalty(D, real).item() == pytest.approx((2 ** 0.5 - 1) ** 2)
    assert r1_penalty(D, real).item() == pytest.approx(2.0)


def test_interpolation_weights_are_drawn_per_pack():
    x, D = torch.randn(6, 1, 2, 2), linear_packed_d([0] * 8)
    torch.manual_seed(3)
    weights = per_sample_weights(D, x)
    torch.manual_seed(3)
    drawn = torch.rand(3, 1, 1, 1)
    assert weights.shape == (6, 1, 1, 1)
    assert torch.equal(weights[0::2], drawn) and torch.equal(weights[1::2], drawn)
    # An unpacked D: one weight per image, the draws of the per-image code.
    torch.manual_seed(3)
    weights = per_sample_weights(nn.Identity(), x)
    torch.manual_seed(3)
    assert torch.equal(weights, torch.rand(6, 1, 1, 1))


# The penalties as they were written for one image per D output (gradient flattened per
# image, interpolation weights per image): the reference for pack 1 and, applied to the
# unpacked net on packs written out by hand, for a packed D.

def reference_input_gradient(D, points):
    points = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(points).sum(), points, create_graph=True)
    return grad.flatten(1)


def reference_unit_penalty(D, points):
    return (reference_input_gradient(D, points).norm(dim=1) - 1).square().mean()


def reference_gradient_penalty(D, real, fake):
    eps = torch.rand((real.size(0), 1, 1, 1))
    return reference_unit_penalty(D, torch.lerp(fake, real, eps))


def reference_dragan_penalty(D, real):
    perturbed = real + 0.5 * real.std(correction=0) * torch.rand_like(real)
    a = torch.rand((real.size(0), 1, 1, 1))
    return reference_unit_penalty(D, torch.lerp(real, perturbed, a))


def reference_r1_penalty(D, real):
    return reference_input_gradient(D, real).square().sum(dim=1).mean()


PENALTIES = {
    "wgan-gp": (lambda D, real, fake: gradient_penalty(D, real, fake), reference_gradient_penalty),
    "dragan": (lambda D, real, fake: dragan_penalty(D, real), lambda D, real, fake: reference_dragan_penalty(D, real)),
    "r1": (lambda D, real, fake: r1_penalty(D, real), lambda D, real, fake: reference_r1_penalty(D, real)),
}


def penalty_and_grads(penalty, D, params, *args, seed=1):
    torch.manual_seed(seed)
    value = penalty(D, *args)
    return value, torch.autograd.grad(value, params, allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("name", sorted(PENALTIES))
@pytest.mark.parametrize("shape", SHAPES)
def test_pack_1_penalties_are_bit_identical_to_the_per_image_formulas(name, shape):
    torch.manual_seed(0)
    D = build_d("dcgan", shape, d_norm="none")
    real, fake = torch.rand(6, *shape) * 2 - 1, torch.rand(6, *shape) * 2 - 1
    params = list(D.parameters())
    ours, reference = PENALTIES[name]
    value, grads = penalty_and_grads(ours, D, params, real, fake)
    expected, expected_grads = penalty_and_grads(reference, D, params, real, fake)
    assert value.item() > 0
    assert torch.equal(value, expected)
    assert all(torch.equal(a, b) for a, b in zip(grads, expected_grads))
    # And through the loss, as training calls it: its other terms plus the weighted penalty.
    weight, rest = {"wgan-gp": (10.0, lambda: D(fake).mean() - D(real).mean()),  # gp_weight
                    "dragan": (10.0, lambda: LOSSES["ns"].d_loss(D, real, fake)),  # gp_weight
                    "r1": (5.0, lambda: LOSSES["ns"].d_loss(D, real, fake))}[name]  # gamma / 2
    torch.manual_seed(1)
    loss = LOSSES[name].d_loss(D, real, fake)
    torch.manual_seed(1)
    assert torch.equal(loss, rest() + weight * reference(D, real, fake))


@pytest.mark.parametrize("name", sorted(PENALTIES))
@pytest.mark.parametrize("shape", SHAPES)
def test_a_packed_penalty_is_the_nets_penalty_on_packs(name, shape):
    """A packed D's penalty equals the per-sample penalty of its unpacked net on packs written
    out by hand: one gradient norm and one interpolation weight per pack."""
    torch.manual_seed(0)
    D = build_d("dcgan", shape, d_norm="none", pack=2)
    real, fake = torch.rand(8, *shape) * 2 - 1, torch.rand(8, *shape) * 2 - 1
    params = list(D.parameters())
    ours, reference = PENALTIES[name]
    value, grads = penalty_and_grads(ours, D, params, real, fake)
    expected, expected_grads = penalty_and_grads(reference, D.net, params, packs_of(real, 2), packs_of(fake, 2))
    assert value.item() > 0
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=0)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------- pacdcgan2

def test_pacdcgan2_is_dcgan_with_a_d_that_judges_pairs():
    pac, dcgan = variants.get_variant("pacdcgan2"), variants.get_variant("dcgan")
    assert "pacdcgan2" in variants.list_variants()
    assert (pac.arch, pac.loss, pac.arch_options, pac.loss_options) == ("dcgan", "ns", {"pack": 2}, {})
    assert pac.hparams == dcgan.hparams
    assert "Lin et al. 2018" in pac.paper and "arXiv:1712.04086" in pac.paper
    assert replace(pac, name="dcgan", paper="", arch_options={}) == replace(dcgan, paper="")


@pytest.mark.parametrize("shape, dcgan_d, pac_d", [((1, 28, 28), 36_641, 37_153), ((3, 28, 28), 37_665, 39_201)])
def test_pacdcgan2_grows_d_by_its_first_layer_only(shape, dcgan_d, pac_d):
    G0, D0 = variants.get_variant("dcgan").build(shape)
    G2, D2 = variants.get_variant("pacdcgan2").build(shape)
    assert (count_params(D0), count_params(D2)) == (dcgan_d, pac_d)
    assert count_params(G2) == count_params(G0)
    first = D0[0].weight  # conv C -> 32, 4x4: its kernel doubles its input channels
    assert count_params(D2) - count_params(D0) == first.numel() == shape[0] * 32 * 16
    assert D2.net[0].weight.shape == (32, 2 * shape[0], 4, 4)


@pytest.mark.parametrize("channels", [1, 3])
def test_pacdcgan2_trains_a_step(channels):
    images = torch.randint(0, 256, (256, channels, 28, 28), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    variant = variants.get_variant("pacdcgan2")
    state = init_state(variant, images, CPU, seed=0)
    before = [p.detach().clone() for p in state.D.parameters()]
    assert all(torch.isfinite(loss) for loss in train_step(variant, state))
    assert all(not torch.equal(a, b) for a, b in zip(before, state.D.parameters()) if a.dim() > 1)
    G_out = state.G(torch.randn(4, variant.hparams.z_dim))
    assert G_out.shape == (4, channels, 28, 28) and state.D(G_out).shape == (2, 1)


# ---------------------------------------------------------------- refused packs

def packed_began(**changes):
    began = variants.get_variant("began")
    return replace(began, name="began-pack2", arch_options={**began.arch_options, "pack": 2}, **changes)


def test_began_refuses_pack_in_one_line():
    before = dict(variants.VARIANTS)
    for refuse in (variants.register_variant, lambda v: v.build((1, 28, 28))):
        with pytest.raises(variants.BadVariant) as error:
            refuse(packed_began())
        message = str(error.value)
        assert "\n" not in message
        assert message.startswith("variant 'began-pack2': architecture 'began' cannot pack: its D returns a "
                                  "reconstruction of its input")
        assert "one value per image (dcgan, infogan, mlp)" in message
    assert variants.VARIANTS == before


def test_a_plugin_that_packs_began_is_one_error_line(tmp_path):
    plugin = tmp_path / "packed_began.py"
    plugin.write_text("from dataclasses import replace\n"
                      "from variants import get_variant, register_variant\n"
                      "register_variant(replace(get_variant('began'), name='began-pack2', arch_options={'pack': 2}))\n")
    result = runner.invoke(app, ["list", "--plugin", str(plugin), "--format", "json"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error:") and "Traceback" not in line
    assert "architecture 'began' cannot pack" in line and str(plugin) in line
    assert "began-pack2" not in variants.VARIANTS


@pytest.mark.parametrize("pack", [0, -1, 2.0, "2", True, None])
def test_a_pack_that_is_not_a_positive_int_is_refused(pack):
    variant = replace(variants.get_variant("pacdcgan2"), name="odd", arch_options={"pack": pack})
    with pytest.raises(variants.BadVariant, match=f"variant 'odd': arch option pack must be a positive integer, "
                                                  f"got {pack!r}"):
        check_variant(variant)


def test_a_batch_size_the_pack_does_not_divide_is_refused():
    variant = variants.get_variant("pacdcgan2").with_hparams(batch_size=63)
    message = "variant 'pacdcgan2': batch_size 63 is not divisible by pack 2"
    with pytest.raises(variants.BadVariant, match=message):
        check_variant(variant)
    with pytest.raises(variants.BadVariant, match=message):
        variant.build((1, 28, 28))
    check_variant(variant.with_hparams(batch_size=62))


def test_a_logit_architecture_without_the_pack_option_is_refused():
    before = ARCH_SPECS.snapshot()

    @variants.register_arch("plain")
    def build_plain(data_shape, z_dim, width, **_):
        return ARCHS["dcgan"](data_shape, z_dim, width)

    try:
        variant = replace(variants.get_variant("pacdcgan2"), name="plain-pack", arch="plain")
        with pytest.raises(variants.BadVariant, match="architecture 'plain' does not take the arch option pack"):
            check_variant(variant)
    finally:
        ARCH_SPECS.restore(before)


# ---------------------------------------------------------------- gan-bench list

def test_list_shows_pacdcgan2_with_its_pack():
    rows = {row["name"]: row for row in json.loads(runner.invoke(app, ["list", "--format", "json"]).output)}
    assert rows["pacdcgan2"]["arch_options"] == "pack=2"
    assert (rows["pacdcgan2"]["params_d"], rows["dcgan"]["params_d"]) == (37_153, 36_641)
    assert rows["pacdcgan2"]["params_g"] == rows["dcgan"]["params_g"]
    table = runner.invoke(app, ["list"], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    (line,) = [line for line in table.output.splitlines() if "pacdcgan2" in line]
    assert "pack=2" in line
