"""The CRM Pulse writes health to: `pulse crm check` (its fields) and `pulse writeback`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pulse.cli.common import console, err, load_settings, require_schema
from pulse.cli.escape import term
from pulse.kernel.errors import one_line

if TYPE_CHECKING:
    from connectors.crm import CrmSystem


def _crm(system: str) -> CrmSystem:
    from connectors.crm import crm_system

    try:
        return crm_system(system)
    except ImportError as exc:
        err.print(f"[red]{term(system)}: connector not available ({term(exc)})[/]")
        raise typer.Exit(1) from None


def crm_check() -> None:
    """Check that the CRM has the fields Pulse reads and writes (name, type), and say
    where accounts' ARR comes from."""
    from connectors.crm import CRM_SYSTEMS, crm_problem
    from pulse.services.arr import arr_line

    cfg = load_settings()
    checked = 0
    failed = False
    for system in CRM_SYSTEMS:
        problem = crm_problem(cfg, system)
        if problem:
            console.print(f"[dim]{term(problem)}[/]", highlight=False)
            continue
        crm = _crm(system)
        try:
            results = crm.check_fields(cfg)
        except Exception as exc:  # noqa: BLE001 - report the CRM's answer, whatever it is
            err.print(f"{system}: check failed: {one_line(exc)}", style="red", markup=False,
                      highlight=False, soft_wrap=True)
            failed = True
            continue
        checked += 1
        bad = [r for r in results if r.problem]
        console.print(f"[bold]{system}[/]: {len(results) - len(bad)} of {len(results)} field(s) ok")
        for r in results:
            found = r.found or "-"
            expected = r.expected or "any"
            state = f"[red]{term(r.problem)}[/]" if r.problem else "[green]ok[/]"
            console.print(f"  {term(r.name)}: {term(found)} (expected {term(expected)}) {state}",
                          highlight=False)
        console.print(f"  {arr_line(cfg, system, results)}", highlight=False)
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
        bool, typer.Option(help="Count the changed scores that would be written; call no "
                           "CRM (so values edited in the CRM are not seen).")
    ] = False,
) -> None:
    """Write the latest health values to the CRM: those it shows differently (a changed
    score, or a value edited by hand in the CRM, put back)."""
    from connectors.crm import CRM_SYSTEMS, configured_crms
    from pulse.kernel.clock import utcnow
    from pulse.services.writeback import write_back_health
    from storage.db import session_factory

    cfg = load_settings()
    require_schema(cfg.database_url)
    if system is not None and system not in CRM_SYSTEMS:
        err.print(f"[red]--system: '{term(system)}' is not one of {', '.join(CRM_SYSTEMS)}[/]")
        raise typer.Exit(2)
    systems = [system] if system else configured_crms(cfg)
    if not systems:
        err.print("[red]No CRM configured: add sources.salesforce or sources.hubspot to "
                  f"{cfg.source_label}, or pass --system.[/]")
        raise typer.Exit(2)
    failed = False
    with session_factory(cfg.database_url)() as session:
        run = write_back_health(session=session, config=cfg, systems=systems, now=utcnow(),
                                dry_run=dry_run)
        session.rollback()
    for outcome in run.outcomes:
        name, report = outcome.system, outcome.report
        if report is None:  # not tried (outcome.problem) or rolled back (outcome.error)
            failed = True
            err.print(outcome.problem or f"{name}: writeback failed: {outcome.error}",
                      style="red", markup=False, highlight=False, soft_wrap=True)
        elif dry_run:
            console.print(
                f"{name} (dry run): {outcome.pending:,} account(s) to update, "
                f"{report.unchanged:,} unchanged, {report.no_record_id:,} without a "
                f"{name} id, of {report.considered:,} scored; nothing sent.",
                highlight=False,
            )
        else:
            console.print(
                f"{name}: {report.succeeded:,} of {report.sent:,} sent updated "
                f"({report.requests:,} request(s){_reads(report.read_requests)}"
                f"{_setup(report.setup_requests)}), {_restored(report.restored)}"
                f"{report.unchanged:,} unchanged, "
                f"{report.no_record_id:,} without a {name} id, {len(report.failed):,} failed",
                highlight=False,
            )
            for where, reason in report.failed[:20]:
                err.print(f"  [red]{term(where)}: {term(reason)}[/]")
            failed |= bool(report.failed)
    if failed:
        raise typer.Exit(1)


def _setup(requests: int) -> str:
    return f" + {requests:,} to read or set up the CRM's fields" if requests else ""


def _reads(requests: int) -> str:
    return f" + {requests:,} to read the CRM's current values" if requests else ""


def _restored(values: int) -> str:
    return f"{values:,} value(s) edited in the CRM put back, " if values else ""
