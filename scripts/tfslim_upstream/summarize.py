"""Prints passed/failed/errors/skipped per upstream test file from pytest's JUnit XML.

Usage: python summarize.py REPORT.xml PREFIX_ON_DISK PREFIX_TO_SHOW
For each file with failures it also prints the most common first error line (``E   ...``),
e.g. ``ModuleNotFoundError: No module named 'nets.inception'``.
"""

import collections
import re
import sys
import xml.etree.ElementTree as ET


def _file_of(case, prefix_disk, prefix_show):
    """The test file of a case: from its classname (``upstream_nets.vgg_test.VGG16Test``).

    The ``file`` attribute names where the method is defined, which for methods inherited
    from ``tf.test.TestCase`` is TensorFlow's file; collection errors have only ``file``.
    """
    classname = case.get("classname") or ""
    if classname:
        name = classname.rpartition(".")[0].replace(".", "/") + ".py"
    else:
        name = (case.get("file") or case.get("name", "").replace(".", "/") + ".py").replace(
            "\\", "/"
        )
    if name.startswith(prefix_disk):
        name = prefix_show + name[len(prefix_disk) :]
    return name


def _reason(element):
    text = (element.text or "") + "\n" + (element.get("message") or "")
    lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    line = lines[0] if lines else (element.get("message") or "").strip().splitlines()[:1]
    line = line if isinstance(line, str) else (line[0] if line else "?")
    # "cannot import name 'alexnet' from 'slimcls.nets' (...)": the module does not exist.
    missing = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", line)
    if missing:
        return f"module missing: {missing.group(2)}.{missing.group(1)}"
    missing = re.search(r"No module named '([\w.]+)'", line)
    if missing:
        return f"module missing: {missing.group(1)}"
    return line[:160]


def main(report, prefix_disk, prefix_show):
    counts = collections.defaultdict(collections.Counter)
    reasons = collections.defaultdict(collections.Counter)
    for case in ET.parse(report).iter("testcase"):
        if case.get("name") == "test_session":
            continue  # tf.test.TestCase's own helper, which TensorFlow skips as "Not a test."
        path = _file_of(case, prefix_disk, prefix_show)
        kinds = [child.tag for child in case]
        if "error" in kinds:
            outcome = "errors"
        elif "failure" in kinds:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "skipped"
        else:
            outcome = "passed"
        counts[path][outcome] += 1
        for child in case:
            if child.tag in ("error", "failure"):
                reasons[path][_reason(child)] += 1
    width = max((len(p) for p in counts), default=10)
    total = collections.Counter()
    print(f"{'file':<{width}}  passed failed errors skipped")
    for path in sorted(counts):
        c = counts[path]
        total.update(c)
        print(f"{path:<{width}}  {c['passed']:6} {c['failed']:6} {c['errors']:6} {c['skipped']:7}")
        if reasons[path]:
            reason, n = reasons[path].most_common(1)[0]
            print(f"{'':<{width}}    first reason ({n}x): {reason}")
    print(
        f"{'TOTAL':<{width}}  {total['passed']:6} {total['failed']:6} {total['errors']:6} "
        f"{total['skipped']:7}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
