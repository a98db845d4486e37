"""Runs the `training_outcome` tests for several seeds, oneDNN on and off.

A test that asserts what training reaches must hold on any CPU: oneDNN and
XLA pick other kernels on another machine (AVX-512 or AVX2, Intel or AMD),
so floating-point rounding, and with it the trajectory, differs. Other
kernels are had here by turning oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`) or
by capping oneDNN and XLA at the instructions of an AVX2-only CPU (`avx2`),
and other trajectories by other seeds. This runs pytest once per seed and
setting (`MEMZOO_TEST_SEED` and the setting's environment), reads each JUnit
XML report, and prints a table: test x (seed, setting) -> what the test
measured (its `record_property` values), or FAIL. It exits 1 when any test
failed.

    python tests/seed_sweep.py                    # seeds 0-4, oneDNN on and off
    python tests/seed_sweep.py --seeds 0 1 --settings avx2 -- -k copy
"""

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "no-onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"},
}


def run(seed, setting, report, pytest_arguments):
    """One pytest run of the marked tests; returns `{test: (passed, values)}`."""
    environment = dict(os.environ, MEMZOO_TEST_SEED=str(seed), **SETTINGS[setting])
    command = [sys.executable, "-m", "pytest", "-m", "training_outcome", "-q",
               "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_arguments]
    status = subprocess.run(command, cwd=ROOT, env=environment).returncode
    if status not in (0, 1):  # 1: some test failed; anything else: no results.
        raise SystemExit(f"pytest exited with {status} for seed {seed}, {setting}")
    results = {}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failed = any(case.find(tag) is not None for tag in ("failure", "error"))
        values = {p.get("name"): p.get("value") for p in case.iter("property")}
        if case.find("skipped") is None:
            results[name] = (not failed, values)
    return results


def cell(result):
    if result is None:
        return "-"
    passed, values = result
    shown = ", ".join(f"{name} {float(value):.4g}" for name, value in values.items())
    return shown if passed else f"FAIL {shown}".strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--settings", nargs="+", default=["onednn", "no-onednn"],
                        choices=sorted(SETTINGS))
    parser.add_argument("pytest_arguments", nargs="*",
                        help="after --: more pytest arguments (e.g. -n 2 -k copy)")
    arguments = parser.parse_args(argv)
    combinations = [(s, o) for o in arguments.settings for s in arguments.seeds]
    table = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed, setting in combinations:
            report = os.path.join(folder, f"seed{seed}-{setting}.xml")
            for test, result in run(seed, setting, report,
                                    arguments.pytest_arguments).items():
                table.setdefault(test, {})[seed, setting] = result
            print(f"seed {seed}, {setting}: done", flush=True)
    header = ["test"] + [f"seed {seed}, {setting}" for seed, setting in combinations]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for test, results in sorted(table.items()):
        cells = [cell(results.get(c)) for c in combinations]
        print(f"| {test} | " + " | ".join(cells) + " |")
    failed = [t for t, r in table.items() if any(not ok for ok, _ in r.values())]
    print(f"{len(table)} tests x {len(combinations)} settings: "
          f"{len(failed)} failed somewhere" + (f" ({', '.join(sorted(failed))})"
                                             if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
