"""Connectors: one module per source system, all honouring ``connectors.base.Connector``."""
