"""The .vz bytes: single files, framed archives, member records and names.

No model internals here: what a payload means is the codecs' business.
"""
