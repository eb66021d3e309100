"""Training: loss, on-device augmentation, memmap batches, optimiser groups, the loop."""
