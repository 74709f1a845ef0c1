"""Codecs: how a batch of images in model space becomes the payload of a .vz file, and back.

One interface, one module per mode:

  float      mu and sigma as float16 tensors (floating.py; the version 1-2 layout)
  quantised  mu on a sigma-aware grid, entropy-coded under the prior (quantised.py)
  lossless   the exact 8-bit pixels, by bits-back coding (lossless.py)
  near-lossless  every pixel within N levels, by bits-back coding of level bins
             (nearlossless.py)

A codec owns both directions (as CompressAI's do): `encode(batch)` gives a Payload (bytes
and the state its checksum covers, never a file: format/writer.py frames payloads into
single files and archive frames), and `decode(vz)` gives back Latents or Pixels after
checking that the file was made by this very model. Choosing a mode is a lookup
(modes.codec_class); the package itself holds only the interface (base.py), so importing
one codec module never imports the others. Codecs never touch files or print.

Every number that the encoder and the decoder must agree on (a CDF, a pmf, a posterior
used for bits-back) is computed exactly: integers, or integer-valued floats whose sums
stay exactly representable, never left to BLAS, exp, the thread count or the SIMD width.
"""

from __future__ import annotations

from vaezip.codecs.base import Batch, Codec, Latents, Payload, Pixels

__all__ = ["Batch", "Codec", "Latents", "Payload", "Pixels"]
