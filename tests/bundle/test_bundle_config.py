"""Bundle configuration as the Databricks CLI resolves it: includes, targets, variables,
substitutions, development mode and presets, paths. No JVM."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeloom.bundle import load_bundle
from lakeloom.spec.loader import JobSpecError
from bundle_files import write


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOM_USER_NAME", "Ada.Lovelace@example.com")
    monkeypatch.delenv("DATABRICKS_BUNDLE_TARGET", raising=False)
    monkeypatch.delenv("BUNDLE_VAR_label", raising=False)


def _errors(exc: pytest.ExceptionInfo[JobSpecError]) -> list[str]:
    return [e.format() for e in exc.value.errors]


def test_dev_target_resolves_includes_variables_and_dev_mode(shop: Path) -> None:
    b = load_bundle(shop, variables={"label": "from-cli"})
    assert b.target == "dev" and b.mode == "development"
    assert [p.name for p in b.files] == ["databricks.yml", "nightly.yml", "catalog.yaml"]
    job = b.jobs["nightly"].job
    assert job.name == "[dev ada_lovelace] nightly-dev"  # prefix, then ${bundle.target}
    assert job.schedule.pause_status == "PAUSED" and job.max_concurrent_runs == 4
    assert job.tags == {"dev": "ada_lovelace"}
    params = {p.name: p.default for p in job.parameters}
    assert params == {"catalog": "dev", "label": "from-cli"}
    load = job.tasks[0]
    assert load.task_key == "load"
    settings = b.config["resources"]["jobs"]["nightly"]["tasks"][0]["spark_python_task"]
    assert settings["python_file"] == str(shop / "src" / "load.py")  # relative to resources/, made absolute
    assert settings["parameters"] == ["--schema", "ada_lovelace_shop", "--workers", "1"]  # typed as the model wants
    report = b.config["resources"]["jobs"]["nightly"]["tasks"][1]["notebook_task"]
    # UC names get the normalised dev prefix; references read the deployed (prefixed) names.
    assert report["base_parameters"] == {"where": "dev.dev_ada_lovelace_ada_lovelace_shop",
                                         "volume": "/Volumes/dev/dev_ada_lovelace_ada_lovelace_shop/landing"}
    assert b.config["workspace"]["file_path"] == str(shop)
    assert b.config["bundle"]["environment"] == "dev"
    # lookup answered by the default, with a warning naming the variable and file:line
    (warning,) = [w.format() for w in b.warnings if "lookup" in w.message]
    assert warning.startswith(f"{shop / 'databricks.yml'}:20:") and "using its default 'local-warehouse'" in warning


def test_prod_target_overrides_merge_tasks_by_key(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNDLE_VAR_label", "from-env")
    b = load_bundle(shop, target="prod")
    job = b.jobs["nightly"].job
    assert job.name == "nightly-prod" and job.schedule.pause_status in (None, "UNPAUSED")
    assert job.schedule.quartz_cron_expression == "0 0 3 * * ?"
    (load,) = [t for t in job.tasks if t.task_key == "load"]
    # the target's task with an existing task_key patches it; lists concatenate
    settings = b.config["resources"]["jobs"]["nightly"]["tasks"][0]["spark_python_task"]
    assert settings["python_file"].endswith("src/load.py")
    assert settings["parameters"][-2:] == ["--mode", "prod"]
    assert [t.task_key for t in job.tasks] == ["load", "report"]
    assert {p.name: p.default for p in job.parameters}["label"] == "from-env"
    assert b.config["workspace"]["root_path"] == "/Workspace/Users/ops@example.com/.bundle/shop/prod"
    assert b.resources["schemas"]["shop_schema"]["name"] == "shop"


def test_variable_precedence_file_and_errors(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = shop / ".databricks" / "bundle" / "dev" / "variable-overrides.json"
    overrides.parent.mkdir(parents=True)
    overrides.write_text(json.dumps({"label": "from-file", "cluster_conf": {"num_workers": 8}}))
    b = load_bundle(shop)
    assert b.config["variables"]["label"]["value"] == "from-file"
    assert b.config["resources"]["jobs"]["nightly"]["tasks"][0]["spark_python_task"]["parameters"][-1] == "8"
    monkeypatch.setenv("BUNDLE_VAR_label", "env-wins")
    assert load_bundle(shop).config["variables"]["label"]["value"] == "env-wins"
    assert load_bundle(shop, variables={"label": "cli-wins"}).config["variables"]["label"]["value"] == "cli-wins"
    overrides.unlink()
    monkeypatch.delenv("BUNDLE_VAR_label")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(shop)
    (msg,) = _errors(exc)
    assert msg.startswith(f"{shop / 'databricks.yml'}:24:") and "no value assigned to required variable label" in msg
    with pytest.raises(JobSpecError) as exc:
        load_bundle(shop, variables={"label": "x", "nope": "y"})
    assert 'variable "nope" is not defined' in _errors(exc)[0]
    monkeypatch.setenv("BUNDLE_VAR_cluster_conf", "{}")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(shop, variables={"label": "x"})
    assert "not supported for complex variable cluster_conf" in _errors(exc)[0]


def test_lookup_without_default_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: b}
        variables:
          policy:
            lookup: {cluster_policy: Team policy}
        resources:
          jobs:
            j: {tasks: [{task_key: t, spark_python_task: {python_file: x.py, parameters: ["${var.policy}"]}}]}
        """})
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    (msg,) = _errors(exc)
    assert msg.startswith(f"{root / 'databricks.yml'}:3:")
    assert "lookup of cluster_policy 'Team policy' needs a Databricks workspace" in msg and "--var" in msg


def test_a_warehouse_lookup_without_a_value_resolves_with_a_warning(tmp_path: Path) -> None:
    """Databricks' dashboard and alert examples look their warehouse up by name; lakeloom ignores
    warehouse ids, so the bundle runs as written (a --var still wins)."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: b}
        variables:
          warehouse_id:
            lookup: {warehouse: Shared Serverless}
        resources:
          jobs:
            j: {tasks: [{task_key: t, sql_task: {warehouse_id: "${var.warehouse_id}", query: {query_id: q}}}]}
        """})
    b = load_bundle(root)
    assert b.config["resources"]["jobs"]["j"]["tasks"][0]["sql_task"]["warehouse_id"] == "lakeloom-local"
    (warning,) = [w.format() for w in b.warnings if "lookup" in w.format()]
    assert warning.startswith(f"{root / 'databricks.yml'}:3: field 'variables.warehouse_id.lookup': warning: ")
    assert "lookup of warehouse 'Shared Serverless' needs a Databricks workspace; using 'lakeloom-local'" in warning
    given = load_bundle(root, variables={"warehouse_id": "abc123"})
    assert given.config["resources"]["jobs"]["j"]["tasks"][0]["sql_task"]["warehouse_id"] == "abc123"


def test_unresolved_references_are_file_line_errors(shop: Path) -> None:
    job = shop / "resources" / "nightly.yml"
    job.write_text(job.read_text().replace("${var.label}", "${var.lable}").replace(
        "${resources.schemas.shop_schema.id}", "${resources.schemas.shop.id}"))
    with pytest.raises(JobSpecError) as exc:
        load_bundle(shop, variables={"label": "x"})
    msgs = _errors(exc)
    assert f"{job}:9: reference does not exist: ${{var.lable}}" in msgs
    assert f"{job}:23: reference does not exist: ${{resources.schemas.shop.id}}" in msgs


def test_job_and_pipeline_ids_stay_engine_references(tmp_path: Path) -> None:
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: refs}
        resources:
          pipelines:
            etl: {name: "Example of a pipeline", libraries: [{file: {path: etl.sql}}]}
          jobs:
            child: {tasks: [{task_key: t, pipeline_task: {pipeline_id: "${resources.pipelines.etl.id}"}}]}
            parent:
              parameters: [{name: child, default: "${resources.jobs.child.id}"},
                           {name: pname, default: "${resources.pipelines.etl.name}"}]
              tasks:
                - task_key: run_child
                  run_job_task: {job_id: "${resources.jobs.child.id}"}
                - task_key: ghost
                  run_job_task: {job_id: "${resources.jobs.ghost.id}"}
        """, "etl.sql": "CREATE MATERIALIZED VIEW x AS SELECT 1 AS a\n"})
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert _errors(exc) == [f"{root / 'databricks.yml'}:14: reference does not exist: ${{resources.jobs.ghost.id}}"]
    text = (root / "databricks.yml").read_text()
    (root / "databricks.yml").write_text(text[:text.index("    - task_key: ghost")])
    b = load_bundle(root)
    parent = b.resources["jobs"]["parent"]
    assert parent["tasks"][0]["run_job_task"]["job_id"] == "${resources.jobs.child.id}"
    assert b.resources["jobs"]["child"]["tasks"][0]["pipeline_task"]["pipeline_id"] == "${resources.pipelines.etl.id}"
    assert [p["default"] for p in parent["parameters"]] == ["child", "Example of a pipeline"]
    assert b.pipelines["etl"].spec.name == "Example of a pipeline"


def test_ids_only_a_deployed_object_has_resolve_to_the_key(tmp_path: Path) -> None:
    """bundle-examples' app_with_genie_space hands ``${resources.genie_spaces.<key>.space_id}`` to
    an app; the CLI resolves it from the deployed space, lakeloom to the key as for ``.id``."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: ids}
        resources:
          genie_spaces:
            taxi: {title: Taxi, warehouse_id: w}
          dashboards:
            board: {display_name: Board, file_path: b.lvdash.json, warehouse_id: w}
          jobs:
            j:
              parameters: [{name: space, default: "${resources.genie_spaces.taxi.space_id}"},
                           {name: board, default: "${resources.dashboards.board.dashboard_id}"}]
              tasks: [{task_key: t, spark_python_task: {python_file: a.py}}]
        """, "b.lvdash.json": "{}"})
    b = load_bundle(root)
    assert [p.default for p in b.jobs["j"].job.parameters] == ["taxi", "board"]
    (root / "databricks.yml").write_text((root / "databricks.yml").read_text().replace(".space_id}", ".spaceid}"))
    with pytest.raises(JobSpecError, match=r"reference does not exist: \$\{resources.genie_spaces.taxi.spaceid\}"):
        load_bundle(root)


def test_dependency_paths_keep_their_quotes_and_resources_without_content_are_skipped(tmp_path: Path) -> None:
    """databricks/cli's acceptance/bundle/environments/dependencies: a quoted -r path under
    ${workspace.file_path} is made absolute once, quotes kept; a job without tasks and a pipeline
    without libraries validate with a warning (the CLI deploys them) and are not deployed."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: deps}
        resources:
          jobs:
            j:
              tasks: [{task_key: t, spark_python_task: {python_file: a.py}, environment_key: e}]
              environments:
                - environment_key: e
                  spec:
                    client: "1"
                    dependencies:
                      - -r "${workspace.file_path}/Path With Spaces/requirements.txt"
                      - "-r './rel dir/requirements.txt'"
                      - "-r ./requirements.txt"
            empty: {name: no tasks}
          pipelines:
            bare: {name: no code, environment: {dependencies: [x]}}
        """})
    b = load_bundle(root)
    deps = b.jobs["j"].job.environments[0].spec.dependencies
    assert deps == [f'-r "{root}/Path With Spaces/requirements.txt"', f"-r '{root}/rel dir/requirements.txt'",
                    f"-r {root}/requirements.txt"]
    assert "empty" not in b.jobs and "bare" not in b.pipelines
    assert sorted(w.message for w in b.warnings if "not deployed" in w.message) == [
        "job 'empty' has no tasks: it is not deployed", "pipeline 'bare' has no libraries: it is not deployed"]


def test_yaml_as_the_cli_reads_it(tmp_path: Path) -> None:
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: yml}
        variables:
          flags: {type: complex, default: {flag: yes, other: on, real: true}}
        x-defaults: &task_defaults
          max_retries: 2
          timeout_seconds: 0777
        x-unused: {name: "${var.only_named_inside_an_unknown_key}"}
        resources:
          jobs:
            j:
              tasks:
                - <<: *task_defaults
                  task_key: yes
                  spark_python_task: {python_file: a.py}
        """})
    b = load_bundle(root)
    task = b.jobs["j"].job.tasks[0]
    assert task.task_key == "yes" and task.max_retries == 2 and task.timeout_seconds == 777
    assert b.config["variables"]["flags"]["default"] == {"flag": "yes", "other": "on", "real": True}
    # Unknown top-level keys are dropped, as the CLI does: a reference that only occurs inside one
    # is never resolved (it failed the bundle before). One that only holds an anchored block is
    # dropped silently, as the CLI's normalisation does (libs/dyn/convert isAnchorContainer).
    assert [w.message for w in b.warnings if w.message.startswith("unknown field")] == ["unknown field: x-unused"]
    assert "x-defaults" not in b.config and "x-unused" not in b.config

    (root / "databricks.yml").write_text("bundle: {name: a}\nresources:\n  jobs:\n    j: {}\n    j: {}\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert _errors(exc) == [f"{root / 'databricks.yml'}:5: duplicate key 'j' (first at line 4)"]
    (root / "databricks.yml").write_text("bundle:\n  name: [a\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert _errors(exc)[0].startswith(f"{root / 'databricks.yml'}:3: invalid YAML")


def test_anchor_only_keys_are_dropped_without_a_warning(tmp_path: Path) -> None:
    """bundle-examples' target_includes: each included file keeps its job under an anchored
    top-level key and aliases it into the targets that deploy it."""
    root = write(tmp_path, {
        "databricks.yml": "bundle: {name: ti}\ninclude: [resources/*.yml]\ntargets: {dev: {default: true}, prod: {}}\n",
        "resources/job.yml": """
            job-config: &job-config
              only-dev:
                name: "only dev - ${bundle.target}"
                tasks: [{task_key: t, spark_python_task: {python_file: ../a.py}}]
            shared: [&one {a: 1}, *one]
            not-anchored: {b: 2}
            targets:
              dev:
                resources:
                  jobs:
                    <<: *job-config
                x-dev-only: *job-config
            """})
    b = load_bundle(root)
    assert b.jobs["only-dev"].job.name == "only dev - dev"
    assert sorted(w.message for w in b.warnings) == ["unknown field: not-anchored"]
    assert list(load_bundle(root, target="prod").jobs) == []


def test_unknown_fields_in_jobs_and_pipelines_are_warned_and_dropped(tmp_path: Path) -> None:
    """The CLI's normalisation warns "unknown field: x" at the key's line and deploys without
    it (libs/dyn/convert/normalize.go), so a stray key does not stop a bundle; type errors do."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: uf}
        resources:
          jobs:
            j:
              trigger:
                type: cron
                periodic: {interval: 1, unit: HOURS}
              tasks:
                - task_key: t
                  spark_python_task: {python_file: a.py}
                  bogus: 3
          pipelines:
            p:
              libraries: [{glob: {include: src/**}}]
              unknown_setting: true
        """})
    b = load_bundle(root)
    file = str(root / "databricks.yml")
    assert sorted((w.file, w.line, w.task_key or "", w.message) for w in b.warnings if "unknown field" in w.message) == [
        (file, 6, "", "job 'j': unknown field: type"),
        (file, 11, "t", "unknown field: bogus"),
        (file, 15, "", "pipeline 'p': unknown field: unknown_setting"),
    ]
    job = b.jobs["j"].job
    assert job.trigger is not None and job.trigger.periodic is not None and job.tasks[0].task_key == "t"
    assert "p" in b.pipelines

    (root / "databricks.yml").write_text(
        "bundle: {name: uf}\nresources:\n  jobs:\n    j:\n      bogus: 1\n      max_concurrent_runs: many\n"
        "      tasks: [{task_key: t, spark_python_task: {python_file: a.py}}]\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert [e for e in _errors(exc) if "max_concurrent_runs" in e and ":6:" in e], _errors(exc)


def test_includes_targets_and_root_file_rules(tmp_path: Path) -> None:
    root = write(tmp_path / "a", {"databricks.yml": "bundle: {name: a}\ninclude: [missing.yml]\n"})
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert "missing.yml defined in 'include' section does not match any files" in _errors(exc)[0]
    (root / "databricks.yml").write_text("bundle: {name: a}\ninclude: ['conf/**/*.yml']\n")
    write(root, {"conf/x/one.yml": "resources: {jobs: {one: {tasks: [{task_key: t, spark_python_task: "
                                   "{python_file: a.py}}]}}}\n",
                 "conf/x/y/deep.yml": "resources: {jobs: {deep: {}}}\n"})
    assert list(load_bundle(root).jobs) == ["one"]  # ** matches one folder level, as Go's filepath.Glob
    (root / "bundle.yml").write_text("bundle: {name: b}\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert "multiple bundle root configuration files" in _errors(exc)[0]
    (root / "databricks.yml").unlink()
    (root / "bundle.yml").write_text("bundle: {name: legacy}\nenvironments:\n  staging: {}\n  qa: {}\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    assert "please specify target" in _errors(exc)[0]
    b = load_bundle(root, target="qa")
    assert (b.name, b.target, b.config["bundle"]["environment"]) == ("legacy", "qa", "qa")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root, target="nope")
    assert "nope: no such target. Available targets: staging, qa" in _errors(exc)[0]


def test_presets_permissions_run_as_sync_artifacts(tmp_path: Path) -> None:
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: p}
        presets:
          name_prefix: "[team] "
          trigger_pause_status: PAUSED
          tags: {owner: data}
        permissions:
          - {level: CAN_VIEW, group_name: users}
          - {level: CAN_FLY, user_name: a@b.c}
        run_as: {user_name: a@b.c, service_principal_name: sp}
        sync: {include: [dist/*.whl], exclude: 3}
        artifacts:
          lib: {type: whl, build: uv build --wheel, path: ./lib}
          bad: {type: egg}
        resources:
          jobs:
            j:
              trigger: {periodic: {interval: 1, unit: HOURS}}
              tasks: [{task_key: t, spark_python_task: {python_file: a.py}}]
        """})
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)
    msgs = _errors(exc)
    for line, text in [(8, "permission level 'CAN_FLY'"), (9, "run_as needs exactly one of user_name or "
                       "service_principal_name"), (10, "sync.exclude must be a list"),
                       (13, "artifact 'bad': type must be whl or jar")]:
        assert any(m.startswith(f"{root / 'databricks.yml'}:{line}:") and text in m for m in msgs), (line, msgs)
    text = (root / "databricks.yml").read_text()
    for bad, good in [("CAN_FLY", "CAN_RUN"), (", service_principal_name: sp", ""), ("exclude: 3", "exclude: []"),
                      ("  bad: {type: egg}\n", "")]:
        text = text.replace(bad, good)
    (root / "databricks.yml").write_text(text)
    b = load_bundle(root)
    job = b.jobs["j"].job
    assert job.name == "[team] j" and job.trigger.pause_status == "PAUSED" and job.tags == {"owner": "data"}
    assert b.artifacts["lib"]["path"] == str(root / "lib")
    assert b.config["run_as"] == {"user_name": "a@b.c"}


def test_experimental_skip_name_prefix_for_schema(tmp_path: Path) -> None:
    """As databricks/cli's acceptance/bundle/experimental/skip_name_prefix_for_schema: the flag
    (a variable here) keeps schema names as written in development mode and under a name_prefix."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: s}
        variables: {skip: {default: false}}
        resources: {schemas: {foo: {name: my_schema, catalog_name: main}}}
        experimental: {skip_name_prefix_for_schema: "${var.skip}"}
        targets:
          one: {default: true, mode: development}
          two: {presets: {name_prefix: "[custom_prefix]"}}
        """})
    names = {(t, skip): load_bundle(root, target=t, variables={"skip": skip}).resources["schemas"]["foo"]["name"]
             for t in ("one", "two") for skip in ("false", "true")}
    assert names == {("one", "false"): "dev_ada_lovelace_my_schema", ("one", "true"): "my_schema",
                     ("two", "false"): "custom_prefix_my_schema", ("two", "true"): "my_schema"}


def test_lakeloom_run_on_databricks_yml_resolves_the_bundle(tmp_path: Path) -> None:
    """`lakeloom run databricks.yml --job KEY` keeps working, now with variables and includes."""
    from click.testing import CliRunner

    from lakeloom.cli.main import cli

    root = write(tmp_path / "b", {
        "databricks.yml": """
            bundle: {name: hello}
            include: [jobs/*.yml]
            variables:
              greeting: {default: hello}
            """,
        "jobs/hello.yml": """
            resources:
              jobs:
                hello:
                  tasks:
                    - task_key: say
                      shell_task: {command: "echo ${var.greeting} from ${bundle.target} > said.txt", cwd: ..}
            """})
    ws = tmp_path / "ws"
    ws.mkdir()
    res = CliRunner().invoke(cli, ["-w", str(ws), "run", str(root / "databricks.yml"), "--job", "hello"])
    assert res.exit_code == 0, res.output
    assert (root / "said.txt").read_text() == "hello from default\n"
    assert (ws / ".lakeloom" / "bundles" / "hello" / "default" / "resources.yml").is_file()


def test_variables_reference_each_other_and_cycles_are_errors(tmp_path: Path) -> None:
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: v}
        variables:
          env: {default: "${bundle.target}"}
          schema: {default: "sales_${var.env}"}
          conf: {type: complex, default: {schema: "${var.schema}", n: 2}}
        resources:
          jobs:
            j:
              tasks:
                - task_key: t
                  spark_python_task: {python_file: x.py, parameters: ["${var.conf.schema}", "${var.conf.n}"]}
        """})
    b = load_bundle(root)
    assert b.resources["jobs"]["j"]["tasks"][0]["spark_python_task"]["parameters"] == ["sales_default", "2"]
    text = (root / "databricks.yml").read_text()
    (root / "databricks.yml").write_text(text.replace("variables:\n", 'variables:\n  a: {default: "${var.b}"}\n'
                                                      '  b: {default: "x${var.a}"}\n'))
    with pytest.raises(JobSpecError) as exc:
        load_bundle(root)  # as in the CLI, a cycle is an error even where nothing uses it
    assert _errors(exc)[0] == (f"{root / 'databricks.yml'}:3: cycle detected in field resolution: "
                               "${variables.b.value} -> ${variables.a.value} -> ${variables.b.value}")


def test_current_user_has_the_fields_of_the_clis_scim_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Databricks' own examples name schemas "snapshots_${workspace.current_user.id}".
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: me}
        variables:
          schema: {default: "snapshots_${workspace.current_user.id}"}
        resources:
          jobs:
            j:
              tasks:
                - task_key: t
                  notebook_task:
                    notebook_path: ./n.py
                    base_parameters:
                      schema: ${var.schema}
                      user: ${workspace.current_user.userName}
                      short: ${workspace.current_user.short_name}
                      app: ${workspace.current_user.domain_friendly_name}
                      name: ${workspace.current_user.displayName}
        """, "n.py": "# Databricks notebook source\n"})
    params = load_bundle(root).config["resources"]["jobs"]["j"]["tasks"][0]["notebook_task"]["base_parameters"]
    user_id = params["schema"].removeprefix("snapshots_")
    assert user_id.isdigit() and 0 < len(user_id) <= 16
    assert params == {"schema": f"snapshots_{user_id}", "user": "Ada.Lovelace@example.com", "short": "ada_lovelace",
                      "app": "ada-lovelace", "name": "Ada.Lovelace@example.com"}
    # the same user gets the same id on every load; another user another id
    assert load_bundle(root).config["resources"]["jobs"]["j"]["tasks"][0]["notebook_task"]["base_parameters"] == params
    monkeypatch.setenv("LAKELOOM_USER_NAME", "grace@example.com")
    other = load_bundle(root).config["resources"]["jobs"]["j"]["tasks"][0]["notebook_task"]["base_parameters"]
    assert other["schema"] != params["schema"] and other["app"] == "grace"


def test_run_keys_may_name_the_resource_type(tmp_path: Path) -> None:
    """``databricks bundle run jobs.job`` finds resource ``job`` as ``bundle run job`` does."""
    root = write(tmp_path, {"databricks.yml": """
        bundle: {name: keys}
        resources:
          jobs:
            job: {tasks: [{task_key: t, spark_python_task: {python_file: a.py}}]}
          pipelines:
            p: {name: p, libraries: [{file: {path: p.sql}}]}
        """})
    b = load_bundle(root)
    assert [b.resource_key(k) for k in ("job", "jobs.job", "pipelines.p", "p", "jobs.p", "nope")] == \
        ["job", "job", "p", "p", "jobs.p", "nope"]
    with pytest.raises(JobSpecError, match="no job or pipeline with key 'jobs.p'"):
        b.job(b.resource_key("jobs.p"))
