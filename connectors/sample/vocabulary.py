"""The sample workspace's shared vocabulary: features, tiers, roles and the other names that
appear in more than one section of the generator (and in tests and benchmarks)."""

from __future__ import annotations

import numpy as np

FEATURES: tuple[str, ...] = (
    "login",
    "search",
    "reports",
    "dashboards",
    "workflows",
    "integrations",
    "api",
    "alerts",
    "exports",
    "comments",
    "admin",
    "mobile",
)
CORE_FEATURES: tuple[str, ...] = ("reports", "dashboards", "workflows", "integrations", "api")
TIERS: tuple[str, ...] = ("smb", "mid-market", "enterprise")
SEGMENTS: dict[str, str] = {"smb": "SMB", "mid-market": "Mid-Market", "enterprise": "Enterprise"}
REGIONS: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
ROLES: tuple[str, ...] = ("owner", "admin", "power_user", "member")
DEPARTMENTS: tuple[str, ...] = (
    "Sales",
    "Marketing",
    "Finance",
    "Ops",
    "Engineering",
    "Support",
    "HR",
    "Legal",
    "Product",
)
INTEGRATIONS: tuple[str, ...] = (
    "salesforce-sync",
    "hubspot-sync",
    "slack",
    "webhooks",
    "jira",
    "snowflake-export",
    "zendesk-sync",
)
DEMO_EMAIL_DOMAIN = "pulse-demo.example"
ENTERPRISE_TEAM = "Enterprise CS"
GROWTH_TEAM = "Growth CS"

FEATURE_INDEX: dict[str, int] = {feature: i for i, feature in enumerate(FEATURES)}
"""Feature name -> column of the per-feature arrays."""
CORE_INDEX = np.array([FEATURE_INDEX[feature] for feature in CORE_FEATURES])
"""Columns of the core features in the per-feature arrays."""


def words(text: str) -> tuple[str, ...]:
    """Split a comma-separated word list (kept compact so the lists stay readable)."""
    return tuple(w.strip() for w in text.split(",") if w.strip())
