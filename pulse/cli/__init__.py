"""The ``pulse`` command line and its terminal renderings (an entry point)."""
