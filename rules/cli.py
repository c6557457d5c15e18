"""``sitewatch rules ...``: ``check FILE...`` validates rule packs; ``list [FILE]`` shows one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rules.lang import RuleError
from rules.pack import check_file, load_default_pack, load_pack


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``check FILE...`` (prints every error with its line; exit 1 on errors, else
    prints ``OK: N rules``) or ``list [FILE]``. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in ("check", "list", "-h", "--help"):
        args.insert(0, "check")  # ``rules FILE`` means ``rules check FILE``
    parser = argparse.ArgumentParser(prog="sitewatch rules", description="rule packs")
    sub = parser.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("check", help="validate rule pack files")
    pc.add_argument("files", nargs="+", metavar="FILE")
    pl = sub.add_parser("list", help="list the rules of a pack (default: the shipped one)")
    pl.add_argument("file", nargs="?", metavar="FILE")
    try:
        ns = parser.parse_args(args)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    if ns.cmd == "list":
        try:
            pack = load_pack(ns.file) if ns.file else load_default_pack()
        except RuleError as exc:
            print(exc, file=sys.stderr)
            return 1
        for r in pack.rules:
            s = r.spec
            crews = (
                ", ".join(f"{c.crew}+{c.after_s:.0f}s" if c.after_s else c.crew for c in s.crews)
                or "-"
            )
            print(f"{s.id:28} {r.kind:9} {s.priority:8} {s.raises:6} {crews}")
        return 0
    status = 0
    for path in ns.files:
        errors = check_file(path)
        if errors:
            status = 1
            for e in errors:
                print(e)
            print(f"{path}: {len(errors)} error(s)", file=sys.stderr)
        else:
            n = len(load_pack(path))
            print(f"OK: {n} rules" if len(ns.files) == 1 else f"{path}: OK: {n} rules")
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
