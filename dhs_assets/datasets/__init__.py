"""The datasets domain: specs as a dynamic partition dimension, observed with their hash as data version."""
