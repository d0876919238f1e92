"""``cnncore config``: the build configuration."""

from __future__ import annotations


def run(args) -> int:
    import cnncore as cc

    cc.show_config()
    return 0


def register(sub) -> None:
    p = sub.add_parser("config", help="build configuration: version, compiler, OpenMP, SIMD, threads",
                       description="Print the version, compiler, OpenMP, SIMD level and threads.")
    p.set_defaults(func=run)
