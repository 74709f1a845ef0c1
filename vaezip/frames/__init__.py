"""Images in and out of a model's frame, and where the inputs come from.

numpy and Pillow only: no torch, and nothing about .vz files.
"""
