"""Tune benchmark: `pulse tune` on 100,000 accounts with 12 monthly as-of dates.

The data is the backtest benchmark's (bench/backtest_bench.py: its portfolio, its usage
drawn month by month over 16 months with about 15% of the accounts churning, their
usage fading before churn), loaded the same way (loading is timed separately, not part
of the figures). Then `pulse tune`'s own code path runs in a fresh subprocess whose own
peak RSS (``VmHWM``) is reported, phase by phase:

* **backtest**: the panel with every learning input (``run_backtest(with_inputs=True)``);
* **inputs**: the account fields and the labelled input frame (``learning_data``);
* **folds**: the scorecard and the three reference models fitted and judged on every
  time fold (``scoring.learn.fit.learn`` up to its final fit);
* **final fit**: the scorecard refitted on every row (the model written);
* **writing**: the model document and the YAML file (``write_model``, into a temporary
  directory, not beside any pulse.yml).

Figures: docs/performance.md.

    python bench/tune_bench.py [--accounts N] [--rows-per-month N]
        [--backend sqlite|postgresql|both] [--keep]   # --keep: leave the database, print its URL
    python bench/tune_bench.py --url URL   # time it again on a database loaded before
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backtest_bench import EVERY, FIRST_AS_OF, HORIZON, LAST_AS_OF, bench_main  # noqa: E402
from score_bench import _peak_rss_mb  # noqa: E402

from pulse.kernel.config import PulseConfig  # noqa: E402
from scoring.periods import parse_span  # noqa: E402
from storage.db import session_factory  # noqa: E402

LEARNED_ON = date(2026, 6, 1)
"""The day written into the model (the bench's "today", after the data ends)."""


class _Phases:
    """Wall time, this process's CPU time and peak RSS so far at the end of each phase.

    CPU time is reported beside wall time because the bench machine is shared: wall time
    grows with whatever else runs, CPU time much less (it leaves out the database
    server's own work, which runs in its processes)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.cpu_started = self.cpu_last = time.process_time()
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}

    def done(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = now - self.last
        self.cpu[name] = cpu - self.cpu_last
        self.peak_mb[name] = _peak_rss_mb()
        self.last, self.cpu_last = now, cpu


def _tune_only(url: str) -> None:
    from pulse.services.backtest import run_backtest
    from pulse.services.learn import learning_data
    from pulse.services.model_file import write_model
    from scoring.learn.document import model_document
    from scoring.learn.fit import learn
    from scoring.learn.live import account_attributes

    cfg = PulseConfig().scoring
    phases = _Phases()
    with session_factory(url)() as session:
        run = run_backtest(
            session,
            cfg,
            FIRST_AS_OF,
            LAST_AS_OF,
            every=parse_span(EVERY),
            horizon=parse_span(HORIZON),
            with_inputs=True,
        )
        phases.done("backtest")
        attributes = account_attributes(session)
    data = learning_data(run.panel, attributes, cfg.learn, run.horizon)
    phases.done("inputs")

    def progress(text: str) -> None:
        if text.startswith("fitting the scorecard on all"):
            phases.done("folds")
        print(f"  {text} ({time.perf_counter() - phases.started:.0f}s)", file=sys.stderr,
              flush=True)

    result = learn(data, run.horizon, progress=progress)
    phases.done("final fit")
    document = model_document(result, str(run.horizon), LEARNED_ON, cfg.learn)
    with tempfile.TemporaryDirectory(prefix="pulse_tune_bench-") as folder:
        write_model(document, Path(folder) / "pulse-model.yml")
    phases.done("writing")
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - phases.started,
                "phases": phases.seconds,
                "cpu_by_phase": phases.cpu,
                "cpu_seconds": time.process_time() - phases.cpu_started,
                "peak_by_phase": phases.peak_mb,
                "peak_mb": _peak_rss_mb(),
                "dates": len(run.dates),
                "rows": result.observations,
                "inputs": data.inputs.shape[1],
                "inputs_kept": len(result.model.inputs),
                "churners": result.churners,
                "folds": len(result.folds.pairs),
                "auc": {c.label: c.mean_auc for c in result.comparisons},
            }
        )
    )


def _tune_subprocess(url: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--tune-only", url],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(backend: str, r: dict, load_s: float | None, rows: int | None) -> None:
    loaded = f"load {load_s:.1f}s ({rows:,} usage rows) | " if load_s is not None and rows else ""
    phases = ", ".join(
        f"{name} {s:.1f}s (CPU {r['cpu_by_phase'][name]:.1f}s, peak so far "
        f"{r['peak_by_phase'][name]:,.0f} MB)"
        for name, s in r["phases"].items()
    )
    aucs = ", ".join(f"{label} {auc:.3f}" for label, auc in r["auc"].items())
    print(
        f"{backend:10s} {loaded}tune {r['seconds']:.1f}s (CPU {r['cpu_seconds']:.1f}s), "
        f"peak {r['peak_mb']:,.0f} MB; "
        f"{r['dates']} dates, {r['rows']:,} account-dates, {r['churners']:,} churn, "
        f"{r['inputs']} inputs ({r['inputs_kept']} in the model), {r['folds']} folds\n"
        f"  phases: {phases}\n  held-out AUC: {aucs}",
        flush=True,
    )


def main() -> None:
    bench_main(__doc__ or "", "tune", "pulse_tune_bench", _tune_only, _tune_subprocess, _report)

if __name__ == "__main__":
    main()
