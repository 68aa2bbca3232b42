"""Built-in plugin: ``spark_jar_task`` runs a JVM class's ``main`` in the run's Spark application.

On a cluster master (``spark://``, ``k8s://``, ``yarn``) the class runs instead as a
spark-submit child application of the task (``--class main_class_name``, the jars, the
``parameters``), with lakeloom's Delta and catalog settings.

``spark_jar_task: {main_class_name, parameters}``; the jar comes from the task's
``libraries: [{jar: path}]`` (relative to the job file, globs allowed; a bundle ``jar``
artifact's files land there) or the deprecated ``jar_uri``. The jars are loaded by a class
loader of this task's own (two tasks may ship different versions of a class) and added to
the executors; ``main`` runs on the task's JVM thread, whose active session is the run's,
so ``SparkSession.builder().getOrCreate()`` in the class returns the run's session, as on a
Databricks cluster. What ``main`` (and the threads it starts) prints to ``System.out`` and
``System.err`` goes to the task's log (``TaskOutput.scala``), not to the driver's own stdout.
"""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskContext, TaskOutput, TaskType
from lakeloom.spec.models import Strict


class SparkJarTask(Strict):
    """``spark_jar_task`` (Jobs API fields)."""

    main_class_name: str = Field(pattern=r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
    parameters: list[str] = Field(default_factory=list)
    jar_uri: str | None = None
    run_as_repl: bool | None = None


class JarTaskError(RuntimeError):
    """The class could not be loaded or its ``main`` threw; the message names the class."""


def _jar_paths(ctx_task: Any, settings: SparkJarTask, base_dir: Path) -> list[Path]:
    texts = [lib.jar for lib in (getattr(ctx_task, "libraries", None) or []) if lib.jar]
    if settings.jar_uri:
        texts.append(settings.jar_uri)
    paths: list[Path] = []
    for text in texts:
        raw = text.removeprefix("file:")
        pattern = raw if os.path.isabs(raw) else str(base_dir / raw)
        found = sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]
        missing = [p for p in found if not p.is_file()]
        if not found or missing:
            raise FileNotFoundError(f"spark_jar_task: jar {text!r} not found ({missing[0] if missing else pattern})")
        paths += [p.resolve() for p in found]
    return paths


def _java_cause(e: BaseException) -> str:
    java = getattr(e, "java_exception", None)
    try:
        cause = java.getCause() if java is not None else None  # InvocationTargetException wraps main's error
        return str((cause or java).toString()) if java is not None else f"{type(e).__name__}: {e}"
    except Exception:  # noqa: BLE001 - the JVM side may be unreachable; keep Python's text
        return f"{type(e).__name__}: {e}"


def _run_child_application(ctx: TaskContext, settings: SparkJarTask, jars: list[Path]) -> TaskOutput:
    from lakeloom.runtime.spark_submit import child_application_command, run_child_application

    if not jars:
        raise JarTaskError(f"spark_jar_task: {settings.main_class_name}: no jar (add libraries: [{{jar: ...}}])")
    extra = ["--jars", ",".join(str(j) for j in jars[1:])] if len(jars) > 1 else []
    args = ["--class", settings.main_class_name, *extra, str(jars[0]), *settings.parameters]
    run_child_application(ctx, child_application_command(ctx, args))
    return TaskOutput()


def _run_jar(ctx: TaskContext, settings: SparkJarTask) -> TaskOutput:
    jars = _jar_paths(ctx.task, settings, ctx.base_dir)
    master = ctx.workspace.spark_master
    if not (master == "local" or master.startswith("local[")):
        # On a cluster the class runs as its own application, as a Databricks jar job does.
        return _run_child_application(ctx, settings, jars)
    spark = ctx.spark
    sc = spark.sparkContext
    gateway, jvm = sc._gateway, sc._jvm
    urls = gateway.new_array(jvm.java.net.URL, len(jars))
    for i, jar in enumerate(jars):
        urls[i] = jvm.java.io.File(str(jar)).toURI().toURL()
        sc._jsc.addJar(str(jar))  # executors load the classes of closures from it
    thread = jvm.java.lang.Thread.currentThread()
    previous = thread.getContextClassLoader()
    loader = jvm.java.net.URLClassLoader(urls, previous)
    args = gateway.new_array(jvm.java.lang.String, len(settings.parameters))
    for i, value in enumerate(settings.parameters):
        args[i] = value
    try:
        cls = jvm.java.lang.Class.forName(settings.main_class_name, True, loader)
    except Exception as e:
        where = ", ".join(p.name for p in jars) or "no jar (add libraries: [{jar: ...}])"
        raise JarTaskError(f"spark_jar_task: class {settings.main_class_name} not found in {where}: "
                           f"{_java_cause(e)}") from None
    signature = gateway.new_array(jvm.java.lang.Class, 1)
    signature[0] = args.getClass()
    invoke_args = gateway.new_array(jvm.java.lang.Object, 1)
    invoke_args[0] = args
    thread.setContextClassLoader(loader)
    output = jvm.io.lakeloom.tasks.TaskOutput
    output.begin()  # main's System.out/err go to the task log, as to the run's output on Databricks
    try:
        cls.getMethod("main", signature).invoke(None, invoke_args)
    except Exception as e:
        raise JarTaskError(f"{settings.main_class_name}.main failed: {_java_cause(e)}") from None
    finally:
        thread.setContextClassLoader(previous)
        printed = str(output.end())
        if printed:
            sys.stdout.write(printed)
            sys.stdout.flush()
    return TaskOutput()


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``spark_jar_task`` task type."""
    return [TaskType("spark_jar_task", SparkJarTask, _run_jar, needs_spark=False,
                     description="run a JVM class's main in the run's Spark application")]
