"""The models: configs, the NumPy runtime that encode and decode use, the torch
networks that training uses (torch_nets.py, the one module here that imports torch),
the registry of shipped and user models, the detector, and the shipped recipes.
"""
