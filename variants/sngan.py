from variants.registry import Hparams, Variant, register_variant

# Miyato et al. 2018: hinge loss, spectral normalization on every D layer, no BatchNorm in
# D. Optimizer: setting C of the paper's Table 1 (Adam 2e-4, betas (0.5, 0.999), n_dis 1),
# one of the six settings the paper trains its standard CNN with; chosen among them because
# it is dcgan's, so sngan differs from dcgan only in loss and D normalization, and n_dis 1
# keeps the CPU budget (settings A, D-F use n_dis 5).
register_variant(Variant(
    name="sngan",
    arch="dcgan",
    loss="hinge",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Miyato et al. 2018, Spectral Normalization for GANs (arXiv:1802.05957)",
    arch_options={"d_norm": "none", "spectral_norm": True},
))
