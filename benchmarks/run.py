"""Benchmark automl against peers and baselines on an offline dataset suite, AutoML-Benchmark style.

Every system gets the same split per seed, the same budget and the same cores, and runs in its own
subprocess (peers with the Python of their virtual environment, see ``benchmarks/peers/setup.sh``), which is
killed at twice the budget plus an allowance for predicting. The baselines (constant, LightGBM,
HistGradientBoosting, random forest with defaults) always run.

Usage::

    python -m benchmarks.run --suite openml --budget 60 --systems automl,flaml,autogluon \\
        [--seeds 0,1,2] [--datasets credit-g,kc1] [--cores 2] [--fresh] [--report-only] [--quick]
    python -m benchmarks.run --systems "automl,automl[search=random],automl[search=defaults;portfolio=none]"
    python -m benchmarks.run --suite extra --systems automl,automl_cli

``--suite`` picks the datasets in ``<repo>/../shared/datasets/<suite>`` (``openml`` or ``extra``; see
:func:`benchmarks.datasets.datasets_dir`). A system may be a variant ``NAME[KEY=VALUE;KEY=VALUE]``: the same
adapter with these options, reported as a system of its own (see :mod:`benchmarks.systems`).

Each finished run is appended at once to ``benchmarks/results/bench_<suite>_<budget>s.csv`` (``..._quick``
with ``--quick``); a restart skips the (dataset, seed, system) runs already there, except runs of a peer that
was not installed. Then the whole CSV is summarised in the ``.md`` file of the same name, with two PNG plots.
Adapter output goes to ``benchmarks/results/logs/<stem>/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import plots, summary  # noqa: E402
from benchmarks.csvlog import append_record, drop_records, read_records  # noqa: E402
from benchmarks.datasets import SUITES, datasets_dir, load_manifest, select  # noqa: E402
from benchmarks.machine_speed import reference_seconds  # noqa: E402
from benchmarks.provenance import engine_revision  # noqa: E402
from benchmarks.runs import RunRow, prepare_task, run_system  # noqa: E402
from benchmarks.systems import System, resolve, split_systems  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK = {"datasets": "credit-g,vehicle,abalone", "budget": 20.0, "seeds": "0"}  # ~4 min with every system
QUICK_DATASETS = {"openml": QUICK["datasets"], "extra": "credit_scoring,olive_oil_area,ames_housing",
                  "generated": "gen_binary_100k"}
KEY = ["dataset", "seed", "system"]
MACHINE_NOTE = ("Measured on a 2-core machine shared with other work (the `load_1m` column of the CSV is the "
                "load average when each run started): times, and scores that depend on how much search fits "
                "in the budget, are noisy.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--quick`` fills in what was not given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="openml", choices=SUITES,
                        help="dataset suite: the folder <repo>/../shared/datasets/<suite> and its manifest")
    parser.add_argument("--budget", type=float, default=None, help="seconds per run (default 60; quick 20)")
    parser.add_argument("--systems", default="automl,flaml,autogluon",
                        help="comma-separated, variants as NAME[KEY=VALUE;...]; baselines always run")
    parser.add_argument("--seeds", default=None, help="comma-separated split and system seeds (default 0,1,2)")
    parser.add_argument("--datasets", default=None, help="comma-separated dataset names (default: all)")
    parser.add_argument("--baselines", default=None,
                        help="baselines to run beside the systems (the report normalises to lgbm and scores failed "
                             "runs as constant: keep those two); default constant,lgbm,hgb,rf; e.g. constant,lgbm "
                             "on very large tables")
    parser.add_argument("--cores", type=int, default=2, help="CPUs per run")
    parser.add_argument("--option", action="append", default=[], metavar="SYSTEM:KEY=VALUE",
                        help="adapter option, e.g. autogluon:presets=best_quality or 'automl[search=random]:cv=3' "
                             "(repeatable)")
    parser.add_argument("--note", action="append", default=[], help="paragraph for the report (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK} (datasets on the extra suite: {QUICK_DATASETS['extra']})")
    parser.add_argument("--fresh", action="store_true", help="re-run runs already in the result CSV")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report and plots")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the CSV, report and logs go")
    args = parser.parse_args(argv)
    full = {"datasets": "", "budget": 60.0, "seeds": "0,1,2"}
    defaults = {**QUICK, "datasets": QUICK_DATASETS[args.suite]} if args.quick else full
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def split_list(text: str) -> list[str]:
    """Items of a comma-separated list, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def with_options(systems: list[System], options: list[str]) -> list[System]:
    """The systems with ``SYSTEM:KEY=VALUE`` options merged into their adapter options.

    Raises
    ------
    ValueError
        For an option that is not ``SYSTEM:KEY=VALUE`` or names a system not in ``systems``.
    """
    merged = {s.name: dict(s.options) for s in systems}
    by_length = sorted(merged, key=len, reverse=True)  # a variant's name may hold ':' (a longer match wins)
    for option in options:
        name = next((n for n in by_length if option.startswith(f"{n}:")), None)
        assignment = option[len(name) + 1:] if name else ""
        if name is None or "=" not in assignment:
            raise ValueError(f"--option {option!r}: expected SYSTEM:KEY=VALUE with SYSTEM among {list(merged)}")
        key, value = assignment.split("=", 1)
        merged[name][key] = value
    return [dataclasses.replace(s, options=merged[s.name]) for s in systems]


def results_stem(args: argparse.Namespace) -> Path:
    """``<results dir>/bench_<suite>_<budget>s`` (``_quick`` appended for ``--quick``)."""
    return args.results_dir / f"bench_{args.suite}_{args.budget:g}s{'_quick' if args.quick else ''}"


def completed_runs(csv_path: Path) -> set[tuple[Any, ...]]:
    """(dataset, seed, system) of the runs in the CSV, except peers that were not installed then."""
    frame = read_records(csv_path, RunRow)
    done = frame[frame["status"] != "not_installed"]
    return set(zip(done["dataset"], done["seed"].astype(int), done["system"]))


def run_dataset(meta: dict[str, Any], seed: int, systems: list[System], args: argparse.Namespace,
                csv_path: Path, machine_ref_s: float = float("nan")) -> None:
    """Prepare one (dataset, seed) split and run the given systems on it, appending each row (with the machine's
    reference fit seconds) when done."""
    log_dir = args.results_dir / "logs" / results_stem(args).name
    with tempfile.TemporaryDirectory(prefix=f"bench_{meta['name']}_{seed}_") as tmp:
        task = prepare_task(meta, seed, args.budget, args.cores, Path(tmp), datasets_dir(args.suite))
        for system in systems:
            row = run_system(system, task, args.budget, args.cores,
                             log_dir / f"{meta['name']}_seed{seed}_{system.slug}.log", engine_revision())
            row.machine_ref_s = machine_ref_s
            drop_records(csv_path, RunRow, KEY, {(row.dataset, row.seed, row.system)})
            append_record(csv_path, row)
            _print_row(row)


def _print_row(row: RunRow) -> None:
    print(f"{row.dataset} seed {row.seed} {row.system:<10} {row.status:<13} {row.metric}={row.score:.4f} "
          f"fit={row.fit_s:.1f}s predict={row.predict_s:.2f}s 1-row={row.predict_row_ms:.1f}ms "
          f"rss={row.peak_rss_mb:.0f}MB pss={row.peak_pss_mb:.0f}MB load={row.load_1m:.1f} {row.error[:200]}",
          file=sys.stderr, flush=True)


def systems_of(args: argparse.Namespace) -> list[System]:
    """The systems of the command line: ``--systems`` with their ``--option``s, and the ``--baselines``."""
    baselines = None if args.baselines is None else tuple(split_list(args.baselines))
    return with_options(resolve(split_systems(args.systems), baselines), args.option)


def run_missing(args: argparse.Namespace, csv_path: Path, suite: list[dict[str, Any]]) -> None:
    """Run every (dataset, seed, system) that the CSV does not hold yet (all of them with ``--fresh``)."""
    entries = select(suite, split_list(args.datasets))
    seeds = [int(s) for s in split_list(args.seeds)]
    systems = systems_of(args)
    done = set() if args.fresh else completed_runs(csv_path)
    machine_ref_s = reference_seconds(args.cores)  # rows from machines of other speeds are told apart by it
    print(f"{len(entries)} datasets x seeds {seeds} x {[s.name for s in systems]}, budget {args.budget:g}s, "
          f"{args.cores} cores, {len(done)} runs already in {csv_path.name}; machine reference fit "
          f"{machine_ref_s:.2f}s", file=sys.stderr, flush=True)
    for meta in entries:
        for seed in seeds:
            todo = [s for s in systems if (meta["name"], seed, s.name) not in done]
            if todo:
                run_dataset(meta, seed, todo, args, csv_path, machine_ref_s)


def write_report(args: argparse.Namespace, csv_path: Path, suite_size: int) -> Path:
    """Rewrite the markdown report and the plots from the whole CSV.

    Returns
    -------
    pathlib.Path
        The ``.md`` file.
    """
    stem = results_stem(args)
    frame = read_records(csv_path, RunRow)
    md_path = stem.with_suffix(".md")
    title = f"Benchmark: {args.suite} suite, budget {args.budget:g} s{' (quick)' if args.quick else ''}"
    if frame.empty:
        md_path.write_text(f"# {title}\n\nNo results yet.\n")
        return md_path
    pngs = plots.write_plots(frame, stem)
    links = {caption: path.name for caption, path in pngs.items()}
    md_path.write_text(summary.render(frame, title, [MACHINE_NOTE, *args.note], suite_size, links))
    return md_path


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run what is missing, then write the report.

    Returns
    -------
    int
        0 (failed runs are rows of the report, not an exit code).
    """
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the running system's process group is ended too
    csv_path = results_stem(args).with_suffix(".csv")
    suite = load_manifest(datasets_dir(args.suite))
    if not args.report_only:
        run_missing(args, csv_path, suite)
    print(write_report(args, csv_path, len(suite)).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
