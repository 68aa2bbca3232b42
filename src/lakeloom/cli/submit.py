"""``lakeloom submit``: run a job inside a Spark cluster's driver through spark-submit."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click


def spark_submit_binary() -> str:
    """spark-submit as the spark_submit_task finds it; a missing one is a CLI error."""
    from lakeloom.runtime.spark_submit import SparkSubmitError
    from lakeloom.runtime.spark_submit import spark_submit_binary as find

    try:
        return find()
    except SparkSubmitError as e:
        raise click.ClickException(str(e)) from None


#: Spark's own refusal (SparkSubmit), raised before spark-submit starts a JVM to say it.
STANDALONE_PYTHON_CLUSTER_MODE = ("Cluster deploy mode is currently not supported for python applications on "
                                  "standalone clusters.")


def check_deploy_mode(master: str | None, deploy_mode: str) -> None:
    """Refuse what spark-submit would refuse: a Python driver in cluster mode on a standalone
    master (or on a local one)."""
    if deploy_mode != "cluster":
        return
    if not master or master.startswith("local"):
        raise click.UsageError("--deploy-mode cluster needs a cluster --master (k8s://... or yarn)")
    if master.startswith("spark://"):
        raise click.UsageError(f"--master {master} --deploy-mode cluster: {STANDALONE_PYTHON_CLUSTER_MODE} "
                               "Use client mode (the default): the driver runs here, the executors on the cluster.")


def build_command(workspace: object, master: str | None, run_args: list[str], extra: tuple[str, ...],
                  deploy_mode: str = "client") -> list[str]:
    from lakeloom.runtime.spark import spark_submit_args

    entry = Path(__file__).with_name("spark_entry.py")
    cmd = [spark_submit_binary()]
    if master:
        cmd += ["--master", master]
    cmd += ["--deploy-mode", deploy_mode]
    cmd += ["--name", "lakeloom", *spark_submit_args(workspace, master=master)]  # type: ignore[arg-type]
    if master and not master.startswith("local"):
        cmd += _py_files_args(workspace, run_args[0])
    cmd += list(extra)
    cmd += [str(entry), "--workspace", str(workspace.root), "run", *run_args]  # type: ignore[attr-defined]
    return cmd


def _py_files_args(workspace: object, target: str) -> list[str]:
    """``--py-files`` with the job's folders zipped, when ``target`` is a job file (executors on
    other machines import task modules from them)."""
    from lakeloom.runtime.py_files import job_py_files

    path = Path(target)
    if not path.is_absolute():
        path = Path.cwd() / path if (Path.cwd() / path).is_file() else workspace.root / path  # type: ignore[attr-defined]
    if not path.is_file():
        return []
    archives = job_py_files(path, workspace.state_dir)  # type: ignore[attr-defined]
    return ["--py-files", ",".join(str(a) for a in archives)] if archives else []


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.option("--master", help="Spark master URL (spark://, k8s://, yarn, local[*]); default: spark-submit's.")
@click.option("--job", "job_key")
@click.option("--param", "-p", "params", multiple=True)
@click.option("--only")
@click.option("--deploy-mode", type=click.Choice(["client", "cluster"]), default="client", show_default=True,
              help="client: the driver runs here; cluster: on the cluster (k8s/yarn; not for Python on standalone).")
@click.option("--spark-arg", "spark_args", multiple=True, help="Extra spark-submit argument (repeatable).")
@click.option("--print", "print_only", is_flag=True, help="Print the spark-submit command instead of running it.")
@click.pass_obj
def submit(state: object, target: str, master: str | None, job_key: str | None, params: tuple[str, ...],
           only: str | None, deploy_mode: str, spark_args: tuple[str, ...], print_only: bool) -> None:
    """Run a job on a Spark cluster with spark-submit (the same job, conf and catalog as `run`).

    The run is recorded in this workspace's store, as with `run`."""
    check_deploy_mode(master, deploy_mode)
    run_args = [target]
    if job_key:
        run_args += ["--job", job_key]
    for p in params:
        run_args += ["--param", p]
    if only:
        run_args += ["--only", only]
    cmd = build_command(state.workspace(), master, run_args, spark_args, deploy_mode)  # type: ignore[attr-defined]
    if print_only:
        click.echo(shlex.join(cmd))
        return
    env = dict(os.environ)
    env.setdefault("SPARK_HOME", _pyspark_home())
    # The driver and the Python workers must use this interpreter, which has lakeloom installed.
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master:
        # The driver's workspace sees the master it runs on (child applications of tasks use it).
        env["LAKELOOM_SPARK_MASTER"] = master
    os.execve(cmd[0], cmd, env)


def _pyspark_home() -> str:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("pyspark is not installed; set SPARK_HOME")
    return str(Path(list(spec.submodule_search_locations)[0]))
