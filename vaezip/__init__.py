"""vaezip: a command-line image compressor built on variational autoencoders.

Importing the package is cheap on purpose: torch and torchvision are imported inside
the functions that need them, so `vaezip --help` and `vaezip models` stay fast.
"""

__version__ = "0.1.0"
