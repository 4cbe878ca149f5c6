"""The datasets domain: specs as a dynamic partition dimension, recorded with their hash as data version."""
