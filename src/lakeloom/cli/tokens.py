"""``lakeloom tokens create|list|revoke``: bearer tokens of the REST API (stored hashed)."""
from __future__ import annotations

import json
from typing import Any

import click


def _store(state: Any) -> Any:
    from lakeloom.store.store import open_store

    ws = state.workspace()
    ws.ensure_state_dir()
    return open_store(ws.store_url)


@click.group()
def tokens() -> None:
    """API tokens for `lakeloom serve`."""


@tokens.command("create")
@click.option("--principal", required=True, help="User or service principal the token acts as.")
@click.option("--comment", default="", help="What the token is for.")
@click.option("--lifetime-seconds", type=int, default=None, help="Expire after this long (default: never).")
@click.option("--admin", is_flag=True, help="Admin token: every permission on every job.")
@click.pass_obj
def create(state: Any, principal: str, comment: str, lifetime_seconds: int | None, admin: bool) -> None:
    """Create a token and print it once (only its hash is stored)."""
    token_id, token = _store(state).create_token(principal, comment=comment, lifetime_seconds=lifetime_seconds,
                                                 is_admin=admin)
    click.echo(f"token_id: {token_id}", err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_tokens(state: Any, as_json: bool) -> None:
    """Tokens (never their values)."""
    rows = _store(state).list_tokens()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from lakeloom.cli.render import fmt_time, table

    table("API tokens", ["token_id", "principal", "admin", "comment", "created", "expires", "revoked", "last used"],
          [[r["token_id"], r["principal"], "yes" if r["is_admin"] else "", r["comment"], fmt_time(r["created_time"]),
            fmt_time(r["expiry_time"]), fmt_time(r["revoked_time"]), fmt_time(r["last_used_time"])] for r in rows])


@tokens.command("revoke")
@click.argument("token_id")
@click.pass_obj
def revoke(state: Any, token_id: str) -> None:
    """Revoke a token by its id; it stops working at once."""
    if not _store(state).revoke_token(token_id):
        raise click.ClickException(f"no live token {token_id!r}")
    click.echo(f"revoked {token_id}")
