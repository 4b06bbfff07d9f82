"""The CRM Pulse writes health to: `pulse crm check` (its fields) and `pulse writeback`."""

from __future__ import annotations

from types import ModuleType
from typing import Annotated

import typer

from pulse.cli.common import console, err, load_settings, require_schema


def _crm_module(system: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(f"connectors.{system}")
    except ImportError as exc:
        err.print(f"[red]{system}: connector not available ({exc})[/]")
        raise typer.Exit(1) from None


def crm_check() -> None:
    """Check that the CRM has the fields Pulse reads and writes (name, type)."""
    from connectors.crm import CRM_SYSTEMS, crm_problem

    cfg = load_settings()
    checked = 0
    failed = False
    for system in CRM_SYSTEMS:
        problem = crm_problem(cfg, system)
        if problem:
            console.print(f"[dim]{problem}[/]", highlight=False)
            continue
        module = _crm_module(system)
        check = module.check_fields if system == "salesforce" else module.check_properties
        try:
            results = check(None, cfg)
        except Exception as exc:  # noqa: BLE001 - report the CRM's answer, whatever it is
            err.print(f"[red]{system}: check failed: {exc}[/]")
            failed = True
            continue
        checked += 1
        bad = [r for r in results if getattr(r, "problem", None)]
        console.print(f"[bold]{system}[/]: {len(results) - len(bad)} of {len(results)} field(s) ok")
        for r in results:
            found = getattr(r, "type", None) or getattr(r, "found", None) or "-"
            expected = getattr(r, "expected_type", None) or getattr(r, "expected", None) or "any"
            state = f"[red]{r.problem}[/]" if r.problem else "[green]ok[/]"
            console.print(f"  {r.name}: {found} (expected {expected}) {state}", highlight=False)
        failed |= bool(bad)
    if not checked and not failed:
        err.print("[red]No CRM configured: add sources.salesforce or sources.hubspot to "
                  f"{cfg.source_label} and set its credentials.[/]")
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def writeback(
    system: Annotated[
        str | None, typer.Option(help="salesforce or hubspot (default: every configured CRM).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Count what would be written; call no CRM.")
    ] = False,
) -> None:
    """Write the latest health values to the CRM (only values that changed)."""
    from connectors.crm import CRM_SYSTEMS, crm_problem
    from connectors.writeback import pending_writeback
    from storage.db import session_factory

    cfg = load_settings()
    require_schema(cfg.database_url)
    if system is not None and system not in CRM_SYSTEMS:
        err.print(f"[red]--system: '{system}' is not one of {', '.join(CRM_SYSTEMS)}[/]")
        raise typer.Exit(2)
    systems = [system] if system else [
        s for s in CRM_SYSTEMS if getattr(cfg.sources, s) is not None
    ]
    if not systems:
        err.print("[red]No CRM configured: add sources.salesforce or sources.hubspot to "
                  f"{cfg.source_label}, or pass --system.[/]")
        raise typer.Exit(2)
    failed = False
    with session_factory(cfg.database_url)() as session:
        for name in systems:
            if dry_run:
                items, report = pending_writeback(session, name)  # type: ignore[arg-type]
                console.print(
                    f"{name} (dry run): {len(items):,} account(s) to update, "
                    f"{report.unchanged:,} unchanged, {report.no_record_id:,} without a "
                    f"{name} id, of {report.considered:,} scored; nothing sent.",
                    highlight=False,
                )
                continue
            problem = crm_problem(cfg, name)
            if problem:
                err.print(f"[red]{problem}[/]")
                failed = True
                continue
            module = _crm_module(name)
            try:
                report = module.write_back(session, cfg)
                session.commit()
            except Exception as exc:  # noqa: BLE001 - one CRM failing must not hide the other
                session.rollback()
                err.print(f"[red]{name}: writeback failed: {exc}[/]")
                failed = True
                continue
            console.print(
                f"{name}: {report.succeeded:,} of {report.sent:,} sent updated "
                f"({report.requests:,} request(s){_setup(report.setup_requests)}), "
                f"{report.unchanged:,} unchanged, "
                f"{report.no_record_id:,} without a {name} id, {len(report.failed):,} failed",
                highlight=False,
            )
            for where, reason in report.failed[:20]:
                err.print(f"  [red]{where}: {reason}[/]")
            failed |= bool(report.failed)
        session.rollback()
    if failed:
        raise typer.Exit(1)


def _setup(requests: int) -> str:
    return f" + {requests:,} to read or set up the CRM's fields" if requests else ""
