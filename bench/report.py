"""Prints one table of every benchmark's headline numbers from bench/results/*.json.

Usage: $PYTHON bench/report.py [--results_dir DIR]

Reads the JSON files the benchmarks wrote (each names its machine, TensorFlow version and
exact command) and prints them as one Markdown table, plus the peak FLOP/s derivation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

ORDER = ("peers", "bounds", "convert", "commands")


def headline_rows(name: str, doc: dict) -> list[dict]:
    f = common.fmt
    rows = []
    for r in doc["rows"]:
        out = {"benchmark": name, "case": r["case"], "note": r.get("note")}
        if name == "peers":
            out["result"] = (
                f"slimcls {f(r.get('slimcls_median'))} vs keras {f(r.get('keras_median'))}"
            )
            for side, label in (("torch", "PyTorch"), ("torch_compile", "PyTorch compiled"),
                                ("tfslim", "TF-Slim")):  # fmt: skip
                if f"{side}_median" in r:
                    out["result"] += f" vs {label} {f(r.get(f'{side}_median'))}"
            out["result"] += " ex/s"
            out["ratio"] = r.get("ratio_slimcls_over_keras")
        elif name == "bounds":
            out["result"] = (
                f"real {f(r.get('real_ex_s'))}, in-memory {f(r.get('synthetic_ex_s'))}, "
                f"input {f(r.get('input_ex_s'))} ex/s; "
                f"{f(r.get('gflops_real'))} of {f(r.get('peak_gflops'))} GFLOP/s"
            )
            out["ratio"], out["ratio2"] = r.get("real_over_synthetic"), r.get("input_over_step")
        elif name == "convert":
            out["result"] = (
                f"{f(r.get('images_per_s'))} images/s, peak RSS {f(r.get('peak_rss_mb'))} MB"
            )
            out["ratio"] = r.get("rss_growth")
        else:
            out["result"] = f"{f(r.get('value'))} {r.get('metric', '')}"
        rows.append(out)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results_dir", default=common.RESULTS_DIR)
    args = parser.parse_args()
    rows, docs = [], {}
    for name in ORDER:
        path = os.path.join(args.results_dir, f"{name}.json")
        if not os.path.exists(path):
            rows.append({"benchmark": name, "case": "-", "result": "not run", "note": path})
            continue
        with open(path, encoding="utf-8") as f:
            docs[name] = doc = json.load(f)
        rows += headline_rows(name, doc)
    # Say where each result ran: numbers from different machines do not compare.
    lines = {name: common.machine_line(doc["machine"]) for name, doc in docs.items()}
    if len(set(lines.values())) == 1:
        print(f"measured on: {next(iter(lines.values()))}")
    for name, line in lines.items() if len(set(lines.values())) > 1 else ():
        print(f"{name} measured on: {line}")
    any_doc = next(iter(docs.values()), None)
    if any_doc:
        m = any_doc["machine"]
        print(
            f"clock {m.get('cpu_mhz')} MHz ({m.get('cpu_mhz_source')}), ISA "
            f"{' '.join(m['isa_flags'])}; TensorFlow {any_doc.get('tensorflow_version')}; "
            f"quick={any_doc.get('quick')}"
        )
        print(f"peak: {m['peak']['derivation']}")
        print(
            f"      = {m['peak']['float32_gflops']} GFLOP/s float32, "
            f"{m['peak']['bfloat16_gflops']} GFLOP/s bfloat16"
        )
    print()
    print(
        common.table(
            rows,
            [
                ("benchmark", "benchmark"), ("case", "case"), ("result", "result"),
                ("ratio", "ratio"),
                ("ratio2", "input/step"), ("note", "note"),
            ],
        )
    )  # fmt: skip
    print(
        "\nratio: peers = slimcls/keras (median ex/s); bounds = real/synthetic (in-memory batch); "
        "convert = rss_growth (peak RSS at 10x input / at 1x). input/step = input pipeline "
        "ex/s / training ex/s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
