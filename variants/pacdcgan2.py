from variants.dcgan import dcgan
from variants.registry import Variant, register_variant

# Lin et al. 2018 pack the discriminator of an otherwise unchanged GAN, so pacdcgan2 is
# dcgan (same nets, loss and hyperparameters) whose D judges pairs of images: PacGAN2, the
# paper's default pack size. D grows in its first layer only, which takes 2x the channels.
register_variant(Variant(
    name="pacdcgan2",
    arch=dcgan.arch,
    loss=dcgan.loss,
    hparams=dcgan.hparams,
    paper="Lin et al. 2018, PacGAN: The power of two samples in GANs (arXiv:1712.04086); "
          "dcgan's nets and settings (Radford et al. 2015)",
    arch_options={**dcgan.arch_options, "pack": 2},
))
