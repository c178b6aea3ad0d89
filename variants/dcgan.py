from variants.registry import Hparams, Variant, register_variant

dcgan = register_variant(Variant(
    name="dcgan",
    arch="dcgan",
    loss="ns",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Radford et al. 2015, Unsupervised Representation Learning with DCGANs (arXiv:1511.06434)",
))
