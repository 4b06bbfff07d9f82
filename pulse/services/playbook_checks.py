"""Playbooks checked before they fire: what would make an action fail or do nothing,
said once when the playbooks are listed (`pulse playbooks`) and when a long-running
process starts (`pulse serve`, `pulse scheduler`), instead of at 06:00 in the audit log.

* a ``webhook`` whose signing-key variable (``secret_env``) is not set, whose ``url`` is
  not an http(s) URL, or whose host does not accept a TCP connection;
* a ``crm_task`` with no CRM in pulse.yml, or none with credentials.

Warnings only: the playbooks still run, and each failed action is recorded as before
(and retried the next time the playbook is due, :mod:`pulse.services.playbooks`).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from connectors.crm import configured_crms, crm_problem
from pulse.kernel.config import PlaybookAction, PulseConfig

WEBHOOK_CONNECT_SECONDS = 3.0
"""How long the reachability check waits for a webhook host to accept a connection."""
DEFAULT_PORTS = {"http": 80, "https": 443}


def playbook_problems(config: PulseConfig, *, connect: bool = True) -> list[str]:
    """One line per problem, naming the playbook, the action and what to do; secrets and
    credentials are looked for in the environment.

    ``connect``: also try a TCP connection to each webhook host (once per host and port;
    nothing is sent)."""
    tried: dict[tuple[str, int], str | None] = {}
    problems = []
    for playbook in config.playbooks:
        for action in playbook.actions:
            problem = _action_problem(config, action, tried if connect else None)
            if problem:
                problems.append(f"playbook '{playbook.name}': {problem}")
    return problems


def _action_problem(config: PulseConfig, action: PlaybookAction,
                    tried: dict[tuple[str, int], str | None] | None) -> str | None:
    if action.type == "crm_task":
        systems = configured_crms(config)
        if not systems:
            return ("crm_task: no CRM in pulse.yml (sources.salesforce or sources.hubspot); "
                    "its tasks will be skipped")
        problems = [p for p in (crm_problem(config, s) for s in systems) if p]
        if len(problems) == len(systems):
            return "crm_task: " + "; ".join(problems) + "; its tasks will be skipped"
        return None
    if action.type != "webhook" or action.url is None:
        return None
    if not os.environ.get(action.secret_env, "").strip():
        return (f"webhook {action.url}: {action.secret_env} is not set (the signing key); "
                "set it, or every webhook of this playbook fails")
    parts = urlsplit(action.url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return f"webhook {action.url}: not an http(s) URL"
    if tried is None:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return f"webhook {action.url}: the port is not a number"
    key = (parts.hostname, port)
    if key not in tried:
        tried[key] = _unreachable(*key)
    why = tried[key]
    return f"webhook {action.url}: cannot connect to {key[0]}:{port} ({why})" if why else None


def _unreachable(host: str, port: int) -> str | None:
    """Why a TCP connection to ``host:port`` fails, or None when it is accepted."""
    try:
        with socket.create_connection((host, port), timeout=WEBHOOK_CONNECT_SECONDS):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
