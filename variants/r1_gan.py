from variants.registry import Hparams, Variant, register_variant

# Mescheder et al. 2018: non-saturating loss plus (gamma/2) E ||grad D(x)||^2 on real data,
# gamma 10 (their CelebA/LSUN setting). Optimizer chosen here: dcgan's Adam 2e-4, betas
# (0.5, 0.999), since the paper's conv-net runs used RMSProp 1e-4 on ResNets we do not
# have. The penalty is per sample, so D has no BatchNorm.
register_variant(Variant(
    name="r1-gan",
    arch="dcgan",
    loss="r1",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge? (arXiv:1801.04406)",
    arch_options={"d_norm": "none"},
    loss_options={"gamma": 10.0},
))
