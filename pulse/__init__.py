"""Pulse: customer health in Slack, synced to the CRM."""

__version__ = "0.1.0"
