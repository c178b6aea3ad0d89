from variants.registry import Hparams, Variant, register_variant

# Berthelot et al. 2017 (arXiv:1703.10717): k_0 = 0, L1 reconstruction error (section 3.4),
# N_z = N_h = 64 (section 4: z_dim 64 and the autoencoder's `code`). The nets, gamma 0.75 and
# Adam's beta1 0.5 are compare_gan's BEGAN (compare_gan/src/gans/BEGAN.py and src/params.py,
# the setting of Lucic et al. 2018). BatchNorm in D (after the code, the FC and the first
# deconv) is one of the two settings of their narrow search (src/params.py,
# BEGANHyperParams): without it the converged runs stopped at fid_mnist 56.6 with 6 classes,
# with it three seeds reach 8.6-9.1 with all ten classes. lambda_k 0.01: the top of
# Lucic et al.'s wide range for BEGAN (1e-4..1e-2), ten times the paper's 0.001, with which
# k_t fell back to 0 in the trials without BatchNorm. lr 2e-4 and width 32, the zoo's dcgan
# values, so G is the dcgan variant's generator (from z of 64), starting at MNIST's mean pixel
# (-0.74 in [-1, 1]); with BatchNorm, a mid-grey start learns more slowly. docs/variants.md
# has the trials. Batch 64 as every variant here.
register_variant(Variant(
    name="began",
    arch="began",
    loss="began",
    hparams=Hparams(z_dim=64, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Berthelot et al. 2017, BEGAN: Boundary Equilibrium GANs (arXiv:1703.10717)",
    arch_options={"code": 64, "g_start_pixel": -0.74, "d_norm": "batch"},
    loss_options={"gamma": 0.75, "lambda_k": 0.01},
))
