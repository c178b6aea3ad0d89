from variants.registry import Hparams, Variant, register_variant

# Berthelot et al. 2017 (arXiv:1703.10717): gamma 0.5 (its main results), lambda_k 0.001,
# k_0 = 0, L1 reconstruction error (section 3.4); N_z = N_h = 64 (section 4: z_dim 64 and the
# autoencoder's `code`). Adam with beta1 0.5, beta2 0.999: the paper names Adam only; these are
# the betas of compare_gan's BEGAN (compare_gan/src/params.py, beta1 0.5) and of the widely
# used re-implementation github.com/carpedm20/BEGAN-tensorflow (config.py). lr 3e-4: inside
# Lucic et al. 2018's narrow range for BEGAN (1e-4..1e-3, compare_gan/src/params.py), above
# the paper's 5e-5..1e-4, because at 1e-4 the autoencoder's L1 error on MNIST was still 0.2
# after 300 steps (0.09 at 3e-4); the paper's halving of lr when M stalls is not done (the
# budgets here are short). Width 16 (n in the paper, 128 there) keeps a step within about
# 3 dcgan steps on one CPU thread. Batch 64 as every variant here (Lucic et al.).
register_variant(Variant(
    name="began",
    arch="began",
    loss="began",
    hparams=Hparams(z_dim=64, batch_size=64, lr_g=3e-4, lr_d=3e-4, betas=(0.5, 0.999), width=16),
    paper="Berthelot et al. 2017, BEGAN: Boundary Equilibrium GANs (arXiv:1703.10717)",
    arch_options={"code": 64, "repeat": 1},
    loss_options={"gamma": 0.5, "lambda_k": 0.001},
))
