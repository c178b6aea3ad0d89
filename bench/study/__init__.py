"""Hyperparameter studies (Lucic et al. 2018): K sampled configurations per variant over N
seeds, trained as Ray tasks. Data flow: spaces (what may vary) -> plan (the runs) -> engine
(Ray) -> records, one per run, in the study folder."""
