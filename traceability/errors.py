"""Root exception of the traceability package; subpackages define typed subclasses."""


class TraceabilityError(Exception):
    """Base class for every error raised by ``traceability``."""
