"""Audio detector training: spoof corpus generation, augmentation, features, training, evaluation, model card."""
