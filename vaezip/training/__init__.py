"""Training and evaluation, on torch: the loop with checkpoints and resume, torchrun,
datasets, evaluation and the figures. Nothing here prints: progress goes through
callbacks, results are returned.
"""
