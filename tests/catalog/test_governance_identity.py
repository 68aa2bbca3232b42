"""The run's principal, groups and admins: config, the JVM's answers in SQL, and the engine's binding."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.identity import as_principal, current_principal
from lakeloom.config import ConfigError, Workspace


def _ws(tmp_path: Path, **settings: Any) -> Workspace:
    return Workspace(root=tmp_path, settings=settings)


def test_groups_come_from_governance_with_server_groups_as_alias(tmp_path: Path) -> None:
    assert identity.configured_groups(_ws(tmp_path, governance={"groups": {"analysts": ["alice"]}})) == {
        "analysts": ["alice"]}
    alias = _ws(tmp_path, server={"groups": {"ops": ["bob"]}})
    assert identity.configured_groups(alias) == {"ops": ["bob"]}
    assert identity.groups_of("bob", alias) == {"ops", "users", "account users"}
    both = _ws(tmp_path, governance={"groups": {"a": ["x"]}}, server={"groups": {"b": ["y"]}})
    with pytest.raises(ConfigError, match="governance.groups and server.groups"):
        identity.configured_groups(both)
    with pytest.raises(ConfigError, match="governance.groups.analysts must be a list"):
        identity.configured_groups(_ws(tmp_path, governance={"groups": {"analysts": "alice"}}))


def test_admins_default_to_the_workspace_creator(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    assert identity.admins(ws) == [identity.os_user()]
    assert identity.is_admin(identity.os_user(), ws)
    configured = _ws(tmp_path, governance={"admins": ["carol"], "groups": {"admins": ["dave"]}})
    assert identity.admins(configured) == ["carol"]
    assert identity.is_admin("dave", configured) and not identity.is_admin(identity.os_user(), configured)
    assert identity.run_principal(None, None) == identity.os_user()
    assert identity.run_principal("sp-etl", "alice") == "sp-etl"
    assert identity.run_principal(None, "alice") == "alice"


def test_publish_mirrors_the_config_for_the_jvm(tmp_path: Path) -> None:
    ws = _ws(tmp_path, governance={"groups": {"analysts": ["alice"]}, "admins": ["root-admin"]})
    path = identity.publish(ws)
    assert json.loads(path.read_text()) == {"format_version": 1, "groups": {"analysts": ["alice"]},
                                            "admins": ["root-admin"]}
    before = path.stat().st_ino
    identity.publish(ws)  # unchanged: not rewritten
    assert path.stat().st_ino == before


def test_publish_from_several_threads_at_once(tmp_path: Path) -> None:
    # The first tasks of a run start Spark together; each publishes before the session exists.
    errors: list[BaseException] = []
    for round_ in range(5):  # a changed config each round, so every round writes the file
        ws = _ws(tmp_path, governance={"groups": {"analysts": [f"user{round_}"]}})
        barrier = threading.Barrier(8)

        def publish(ws: Workspace = ws, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                identity.publish(ws)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=publish) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        published = json.loads((ws.catalog_dir / identity.IDENTITY_FILE).read_text())
        assert published["groups"] == {"analysts": [f"user{round_}"]}


@pytest.fixture(scope="module")
def analysts(spark_workspace: Workspace) -> Iterator[Workspace]:
    """The session's workspace with ``analysts: [alice]`` published for the JVM (restored after)."""
    ws = Workspace(root=spark_workspace.root, settings={**spark_workspace.settings,
                                                        "governance": {"groups": {"analysts": ["alice"]}}})
    identity.publish(ws)
    yield ws
    identity.publish(spark_workspace)


@pytest.mark.spark
def test_sql_functions_answer_for_the_threads_principal(spark: Any, analysts: Workspace) -> None:
    me = identity.os_user()
    assert current_principal(spark) == me
    row = spark.sql("SELECT current_user(), session_user(), current_user, is_member('admins'), "
                    "is_account_group_member('users')").first()
    assert tuple(row) == (me, me, me, False, True)
    with as_principal(spark, "alice"):
        row = spark.sql("SELECT current_user(), is_account_group_member('analysts'), is_member('analysts'), "
                        "is_member('admins')").first()
        assert tuple(row) == ("alice", True, True, False)
        assert spark.range(1).selectExpr("current_user()").first()[0] == "alice"
    assert spark.sql("SELECT current_user()").first()[0] == me
    with pytest.raises(Exception, match="takes one constant group name"):
        spark.sql("SELECT is_member(cast(id as string)) FROM range(1)").collect()
