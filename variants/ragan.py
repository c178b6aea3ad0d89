from variants.registry import Hparams, Variant, register_variant

# Jolicoeur-Martineau 2018: the relativistic average standard GAN (RaSGAN). Her
# DCGAN-architecture runs used Adam 2e-4, betas (0.5, 0.999), n_D 1: the same as dcgan.
register_variant(Variant(
    name="ragan",
    arch="dcgan",
    loss="ragan",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Jolicoeur-Martineau 2018, The relativistic discriminator (arXiv:1807.00734)",
))
