"""Visual detector training: DFDC face-crop dataset, augmentation, training loop, evaluation, model card."""
