"""`kizashi user add NAME --role ROLE [--password P]`: create or update a fleet-page user.

The password comes from --password, else $KIZASHI_PASSWORD, else a prompt (twice) on a
terminal, else a generated one that is printed once. The store: --db, else the database of
--config (the gateway's TOML), else $KIZASHI_DB, else that of $KIZASHI_CONFIG, else
data/kizashi.db (gateway.config.store_url; URL forms: gateway.store.open_store).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import sys
import unicodedata
from typing import Any

from gateway.domain import ROLES

from .auth import hash_password

MIN_PASSWORD = 10
USER_NAME = re.compile(r"[a-z0-9._-]{1,64}")
USER_NAME_RULE = "user name: 1-64 of a-z 0-9 . _ - (lower case ASCII)"


def check_user_name(name: object) -> str:
    """The name if it follows USER_NAME exactly (fullmatch: no trailing newline) and is its own
    NFKC form (no look-alike letters); ValueError otherwise."""
    if (
        not isinstance(name, str)
        or not USER_NAME.fullmatch(name)
        or unicodedata.normalize("NFKC", name) != name
    ):
        raise ValueError(USER_NAME_RULE)
    return name


def _password(given: str | None) -> tuple[str, bool]:
    if given:
        return given, False
    env = os.environ.get("KIZASHI_PASSWORD")
    if env:
        return env, False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first and first == getpass.getpass("Repeat: "):
            return first, False
        raise ValueError("passwords empty or not equal")
    return secrets.token_urlsafe(12), True


def main(argv: list[str], store: Any = None) -> int:
    ap = argparse.ArgumentParser(prog="kizashi user", description="fleet page users")
    from gateway.config import add_store_options, store_url

    add_store_options(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="add a user, or replace the role/password of one")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add.add_argument("--password")
    add.add_argument(
        "--customer", default="", help="a customer's user: only its sites, view only (FLEET.md)"
    )
    sub.add_parser("list", help="list users and roles")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error: a return code, not an exit
        return int(exc.code or 0)
    own = store is None
    if own:
        from gateway.store import open_store

        store = open_store(store_url(args))
    try:
        if args.cmd == "list":
            for u in store.users():
                extra = ("\tdisabled" if u.disabled else "") + (
                    f"\tcustomer={u.customer}" if u.customer else ""
                )
                print(f"{u.name}\t{u.role}{extra}")
            return 0
        from gateway.store.api import User

        try:
            check_user_name(args.name)
            pw, generated = _password(args.password)
        except ValueError as exc:
            print(f"kizashi user: {exc}", file=sys.stderr)
            return 2
        if len(pw) < MIN_PASSWORD:
            print(
                f"kizashi user: password needs at least {MIN_PASSWORD} characters", file=sys.stderr
            )
            return 2
        old = store.user(args.name)
        existed = old is not None
        # A new password does not re-enable a disabled user (that is the admin page's call).
        disabled = bool(old is not None and old.disabled)
        if args.customer and args.role != "viewer":
            print("kizashi user: a customer's user can only be a viewer", file=sys.stderr)
            return 2
        store.upsert_user(
            User(args.name, hash_password(pw), args.role, disabled, customer=args.customer)
        )
        state = ", disabled" if disabled else ""
        print(f"{'updated' if existed else 'added'} user {args.name} ({args.role}{state})")
        if generated:
            print(f"generated password: {pw}")
        return 0
    finally:
        if own:
            store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
