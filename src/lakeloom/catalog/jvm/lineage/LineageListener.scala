// Records the lineage of every successful write as JSON lines (the rows of
// system.access.table_lineage and column_lineage), and optionally exports OpenLineage events.
//
// Registered with spark.extraListeners. Listener events arrive on Spark's listener-bus thread,
// not the task thread, so the run/task/principal of a statement are taken from the local
// properties of the jobs it started (SparkListenerJobStart carries them, keyed by the SQL
// execution id and its root id); a statement that started no job falls back to its job group
// (lakeloom-<run_id>-<task_run_id>-<hex>). Only root executions are recorded: the writes nested
// inside a CTAS or MERGE are parts of the statement, not statements of their own.
package org.apache.spark.sql.lakeloom.lineage

import java.io.{File, FileOutputStream}
import java.net.InetAddress
import java.nio.charset.StandardCharsets
import java.time.{Instant, ZoneOffset}
import java.util.{Properties, UUID}
import java.util.concurrent.ConcurrentHashMap

import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.ObjectMapper
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.SparkConf
import org.apache.spark.internal.Logging
import org.apache.spark.scheduler.{SparkListener, SparkListenerEvent, SparkListenerJobStart}
import org.apache.spark.sql.execution.ui.{SparkListenerSQLExecutionEnd, SparkListenerSQLExecutionStart}

/** Who and what a statement ran for: lakeloom's local properties of the task thread. */
case class StatementContext(props: Map[String, String]) {
  def get(key: String): Option[String] = props.get(key).filter(_.nonEmpty)
}

object LineageListener {
  val DirConf = "spark.lakeloom.lineage.dir"
  val WorkspaceIdConf = "spark.lakeloom.workspace_id"
  val Keys: Seq[String] = Seq("lakeloom.job_id", "lakeloom.job_name", "lakeloom.run_id", "lakeloom.task_run_id",
    "lakeloom.task_key", "lakeloom.principal")
  private val JobGroup = "lakeloom-(\\d+)-(\\d+)-[0-9a-f]+".r
  private val Mapper = new ObjectMapper()

  def contextOf(props: Properties, jobGroup: Option[String]): StatementContext = {
    val fromProps = if (props == null) Map.empty[String, String]
      else Keys.flatMap(k => Option(props.getProperty(k)).map(k -> _)).toMap
    val fromGroup = jobGroup.orElse(Option(props).flatMap(p => Option(p.getProperty("spark.jobGroup.id")))) match {
      case Some(JobGroup(run, taskRun)) => Map("lakeloom.run_id" -> run, "lakeloom.task_run_id" -> taskRun)
      case _ => Map.empty[String, String]
    }
    StatementContext(fromGroup ++ fromProps)
  }
}

class LineageListener(conf: SparkConf) extends SparkListener with Logging {
  import LineageListener._

  private val jobProps = new ConcurrentHashMap[Long, Properties]()
  private val starts = new ConcurrentHashMap[Long, SparkListenerSQLExecutionStart]()
  private val dir = conf.getOption(DirConf).map(new File(_))
  private val workspaceId = conf.get(WorkspaceIdConf, "0")
  private val sparkUser = org.apache.spark.util.Utils.getCurrentUserName()
  private val fileTag = s"${InetAddress.getLocalHost.getHostName}-${ProcessHandle.current().pid()}-${UUID.randomUUID().toString.take(8)}"
  private lazy val openLineage = OpenLineageExport.fromConf(conf)

  override def onJobStart(e: SparkListenerJobStart): Unit = {
    val p = e.properties
    if (p == null) return
    for (key <- Seq("spark.sql.execution.id", "spark.sql.execution.root.id"); id <- Option(p.getProperty(key))) {
      scala.util.Try(id.toLong).foreach(jobProps.putIfAbsent(_, p))
    }
  }

  override def onOtherEvent(event: SparkListenerEvent): Unit = event match {
    case s: SparkListenerSQLExecutionStart => starts.put(s.executionId, s)
    case e: SparkListenerSQLExecutionEnd =>
      val start = Option(starts.remove(e.executionId))
      val props = Option(jobProps.remove(e.executionId))
      val isRoot = start.flatMap(_.rootExecutionId).forall(_ == e.executionId)
      if (isRoot && e.executionFailure.isEmpty && e.qe != null) {
        try record(e, contextOf(props.orNull, start.flatMap(_.jobGroupId)))
        catch { case NonFatal(err) => logWarning(s"lakeloom lineage: could not record execution ${e.executionId}", err) }
      }
    case _ =>
  }

  private def record(e: SparkListenerSQLExecutionEnd, ctx: StatementContext): Unit = {
    val writes = LineagePlan.writes(e.qe.analyzed)
    if (writes.isEmpty) return
    val statementId = e.queryId.getOrElse(UUID.randomUUID()).toString
    val lines = writes.flatMap(w => LineageRecords.rows(w, ctx, statementId, e.time, workspaceId, sparkUser))
    dir.foreach(append(_, e.time, lines))
    openLineage.foreach(_.send(writes, ctx, statementId, e.time))
  }

  private def append(root: File, time: Long, lines: Seq[ObjectNode]): Unit = {
    val day = Instant.ofEpochMilli(time).atZone(ZoneOffset.UTC).toLocalDate.toString
    val folder = new File(root, day)
    folder.mkdirs()
    val text = lines.map(Mapper.writeValueAsString(_) + "\n").mkString
    // One file per process: lines of one process never interleave with another's.
    val out = new FileOutputStream(new File(folder, s"$fileTag.jsonl"), true)
    try out.write(text.getBytes(StandardCharsets.UTF_8)) finally out.close()
  }
}

/** The JSON rows of one write, in system.access.table_lineage / column_lineage's columns. */
object LineageRecords {
  private val Mapper = new ObjectMapper()

  def rows(w: Write, ctx: StatementContext, statementId: String, time: Long, workspaceId: String,
           sparkUser: String): Seq[ObjectNode] = {
    val eventId = UUID.randomUUID().toString
    def base(kind: String, source: Option[Entity]): ObjectNode = {
      val n = Mapper.createObjectNode()
      n.put("kind", kind)
      n.put("account_id", "lakeloom")
      n.put("metastore_id", s"lakeloom-$workspaceId")
      n.put("workspace_id", workspaceId)
      n.put("entity_type", ctx.get("lakeloom.job_id").map(_ => "JOB").orNull)
      n.put("entity_id", ctx.get("lakeloom.job_id").orNull)
      n.put("entity_run_id", ctx.get("lakeloom.run_id").orNull)
      putEntity(n, "source", source)
      putEntity(n, "target", Some(w.target))
      n.put("created_by", ctx.get("lakeloom.principal").getOrElse(sparkUser))
      n.put("event_time", time)
      n.put("record_id", UUID.randomUUID().toString)
      n.put("event_id", eventId)
      n.put("statement_id", statementId)
      n.put("operation", w.operation)
      val job = n.putObject("entity_metadata").putObject("job_info")
      job.put("job_id", ctx.get("lakeloom.job_id").orNull)
      job.put("job_run_id", ctx.get("lakeloom.run_id").orNull)
      job.put("task_key", ctx.get("lakeloom.task_key").orNull)
      job.put("task_run_id", ctx.get("lakeloom.task_run_id").orNull)
      n
    }
    val sources = if (w.sources.isEmpty) Seq(None) else w.sources.filterNot(_ == w.target).map(Some(_)) match {
      case Seq() => Seq(None)
      case s => s
    }
    val tableRows = sources.map(base("table", _))
    val columnRows = w.columns.map { c =>
      val n = base("column", Some(c.source))
      n.put("source_column_name", c.sourceColumn)
      n.put("target_column_name", c.targetColumn)
      n
    }
    tableRows ++ columnRows
  }

  private def putEntity(n: ObjectNode, prefix: String, e: Option[Entity]): Unit = {
    val parts = e.map(_.nameParts).getOrElse(Seq(None, None, None))
    n.put(s"${prefix}_table_full_name", e.flatMap(_.fullName).orNull)
    n.put(s"${prefix}_table_catalog", parts.head.orNull)
    n.put(s"${prefix}_table_schema", parts(1).orNull)
    n.put(s"${prefix}_table_name", parts(2).orNull)
    n.put(s"${prefix}_path", e.flatMap(_.path).orNull)
    n.put(s"${prefix}_type", e.map(_.kind).orNull)
  }
}
