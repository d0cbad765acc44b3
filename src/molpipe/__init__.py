"""molpipe: HTS library in, ranked candidate molecules out."""

__version__ = "0.1.0"
