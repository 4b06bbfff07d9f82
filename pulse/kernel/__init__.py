"""The kernel: what every layer may use (configuration, the clock, shared records).

Nothing here imports another Pulse package.
"""
