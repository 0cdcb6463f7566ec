"""``rustorch.backends.mps``: Apple's Metal backend is not provided."""


def is_available() -> bool:
    """False: rustorch has no MPS backend."""
    return False


def is_built() -> bool:
    return False
