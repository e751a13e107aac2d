"""Provenance: what makes an exported image say where it came from — export bundles, C2PA signing, XMP, visible
labels, both watermarks, perceptual fingerprints, bundle verification and the public origin check."""
