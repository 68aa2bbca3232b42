"""``lakeloom grants show|grant|revoke``: Unity Catalog grants of the workspace's catalogs.

The same store Spark enforces (:mod:`lakeloom.catalog.grants`), with no JVM: a change takes
effect for the next statement of every process using the workspace. The CLI acts as the OS user,
who needs MANAGE on the securable (its owner and metastore admins have it; the OS user who
created the workspace is an admin by default)::

    lakeloom grants show table main.sales.orders [--principal alice] [--json]
    lakeloom grants grant schema main.sales analysts USE_SCHEMA SELECT
    lakeloom grants revoke table main.sales.orders alice SELECT
"""
from __future__ import annotations

import json
from typing import Any

import click

SECURABLE_TYPES = ["catalog", "schema", "table", "view", "volume", "function", "registered_model"]


def _store_and_securable(state: Any, securable_type: str, full_name: str) -> tuple[Any, Any]:
    from lakeloom.catalog.grants import GrantError, GrantStore, Securable

    try:
        securable = Securable.of(securable_type, full_name)
    except GrantError as e:
        raise click.BadParameter(str(e), param_hint="FULL_NAME") from None
    store = GrantStore(state.workspace())
    if not store.exists(securable):
        raise click.ClickException(f"{securable.describe()} does not exist")
    return store, securable


def _change(state: Any, securable_type: str, full_name: str, principal: str, privileges: tuple[str, ...],
            grant: bool) -> None:
    from lakeloom.catalog.grants import GrantError, PermissionDenied
    from lakeloom.catalog.identity import os_user

    store, securable = _store_and_securable(state, securable_type, full_name)
    try:
        if grant:
            store.grant(securable, principal, privileges, actor=os_user())
        else:
            store.revoke(securable, principal, privileges, actor=os_user())
    except PermissionDenied as e:
        raise click.ClickException(f"PERMISSION_DENIED: {e}") from None
    except GrantError as e:
        raise click.BadParameter(str(e), param_hint="PRIVILEGES") from None
    verb = "granted" if grant else "revoked"
    click.echo(f"{verb} {', '.join(p.upper() for p in privileges)} on {securable.describe()} "
               f"{'to' if grant else 'from'} {principal}")


@click.group()
def grants() -> None:
    """Unity Catalog grants: show, grant, revoke."""


@grants.command("show")
@click.argument("securable_type", type=click.Choice(SECURABLE_TYPES, case_sensitive=False))
@click.argument("full_name")
@click.option("--principal", default=None, help="Only this user or group.")
@click.option("--json", "as_json", is_flag=True, help="SHOW GRANTS rows as JSON.")
@click.pass_obj
def show(state: Any, securable_type: str, full_name: str, principal: str | None, as_json: bool) -> None:
    """The owner, the grants on the securable and those it inherits (as SHOW GRANTS)."""
    store, securable = _store_and_securable(state, securable_type, full_name)
    rows = store.show(securable, principal)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from lakeloom.cli.render import table

    table(f"Grants on {securable.describe()}", ["principal", "action_type", "object_type", "object_key"],
          [[r["principal"], r["action_type"], r["object_type"], r["object_key"]] for r in rows])


@grants.command("grant")
@click.argument("securable_type", type=click.Choice(SECURABLE_TYPES, case_sensitive=False))
@click.argument("full_name")
@click.argument("principal")
@click.argument("privileges", nargs=-1, required=True)
@click.pass_obj
def grant(state: Any, securable_type: str, full_name: str, principal: str, privileges: tuple[str, ...]) -> None:
    """Grant PRIVILEGES (SELECT, MODIFY, USE_SCHEMA, "ALL PRIVILEGES", ...) to PRINCIPAL."""
    _change(state, securable_type, full_name, principal, privileges, grant=True)


@grants.command("revoke")
@click.argument("securable_type", type=click.Choice(SECURABLE_TYPES, case_sensitive=False))
@click.argument("full_name")
@click.argument("principal")
@click.argument("privileges", nargs=-1, required=True)
@click.pass_obj
def revoke(state: Any, securable_type: str, full_name: str, principal: str, privileges: tuple[str, ...]) -> None:
    """Revoke PRIVILEGES from PRINCIPAL."""
    _change(state, securable_type, full_name, principal, privileges, grant=False)
