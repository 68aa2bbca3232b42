// system.lakeflow.* from lakeloom's run store, read over JDBC at every scan (the store is the
// source of truth, so the tables are never stale and nothing has to be exported). The driver
// (sqlite-jdbc, or PostgreSQL's for a PostgreSQL store) is loaded from spark.jars.
//
// lakeloom keeps one row per job (not Databricks' SCD2 history) and one timeline row per run
// and task run (Databricks splits long runs into hourly slices).
package io.lakeloom.system

import java.sql.{Connection, Driver, ResultSet}
import java.util.Properties

import scala.collection.mutable
import scala.jdk.CollectionConverters._
import scala.util.Try

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow

object LakeflowTables {
  import Values._

  private val Mapper = new ObjectMapper()

  /** Jobs API result states -> the system tables' (SUCCEEDED, FAILED, SKIPPED, CANCELLED, TIMED_OUT, ERROR). */
  private val ResultStates = Map("SUCCESS" -> "SUCCEEDED", "SUCCESS_WITH_FAILURES" -> "SUCCEEDED",
    "CANCELED" -> "CANCELLED", "TIMEDOUT" -> "TIMED_OUT", "INTERNAL_ERROR" -> "ERROR", "EXCLUDED" -> "SKIPPED",
    "UPSTREAM_CANCELED" -> "CANCELLED", "UPSTREAM_FAILED" -> "FAILED", "MAXIMUM_CONCURRENT_RUNS_REACHED" -> "SKIPPED")

  private def resultState(s: String): String = if (s == null) null else ResultStates.getOrElse(s, s)

  private def connect(url: String): Connection = {
    val driverClass =
      if (url.startsWith("jdbc:sqlite:")) "org.sqlite.JDBC"
      else if (url.startsWith("jdbc:postgresql:")) "org.postgresql.Driver"
      else throw new IllegalArgumentException(s"system.lakeflow: unsupported run store URL $url")
    val loader = Option(Thread.currentThread().getContextClassLoader).getOrElse(getClass.getClassLoader)
    val driver = try Class.forName(driverClass, true, loader).getDeclaredConstructor().newInstance().asInstanceOf[Driver]
    catch {
      case e: ClassNotFoundException => throw new IllegalStateException(
        s"system.lakeflow tables need the JDBC driver $driverClass on spark.jars (lakeloom setup fetches sqlite-jdbc)", e)
    }
    val props = new Properties()
    if (url.startsWith("jdbc:sqlite:")) props.setProperty("open_mode", "1") // SQLITE_OPEN_READONLY
    val conn = driver.connect(url, props)
    conn.setReadOnly(true)
    conn
  }

  private def query[T](s: SystemSources, sql: String)(f: ResultSet => T): Seq[T] = s.storeUrl match {
    case None => Seq.empty
    case Some(url) =>
      val conn = connect(url)
      try {
        val rs = conn.createStatement().executeQuery(sql)
        val out = mutable.ArrayBuffer.empty[T]
        while (rs.next()) out += f(rs)
        out.toSeq
      } finally conn.close()
  }

  private def long(rs: ResultSet, col: String): Option[Long] = { val v = rs.getLong(col); if (rs.wasNull()) None else Some(v) }
  private def ts(rs: ResultSet, col: String): Any = long(rs, col).map(micros).getOrElse(null)
  private def json(text: String): JsonNode = Try(Mapper.readTree(Option(text).getOrElse("{}"))).getOrElse(Mapper.createObjectNode())
  private def txt(n: JsonNode, path: String*): String =
    path.foldLeft(Option(n))((o, k) => o.flatMap(x => Option(x.get(k)))).filterNot(_.isNull).map(_.asText()).orNull

  private def row(values: Any*): InternalRow = new GenericInternalRow(values.toArray)

  private def runAs(settings: JsonNode, creator: String): String =
    Option(txt(settings, "run_as", "user_name")).orElse(Option(txt(settings, "run_as", "service_principal_name")))
      .getOrElse(creator)

  private def triggerType(settings: JsonNode): String =
    if (settings.hasNonNull("schedule")) "CRON"
    else if (settings.hasNonNull("continuous")) "CONTINUOUS"
    else Option(settings.get("trigger")).filter(_.isObject).flatMap { t =>
      Seq("periodic" -> "PERIODIC", "file_arrival" -> "FILE_ARRIVAL", "table_update" -> "TABLE_UPDATE", "table" -> "TABLE")
        .collectFirst { case (k, v) if t.hasNonNull(k) => v }
    }.orNull

  private def paused(settings: JsonNode, control: String): Any = Option(control).orElse(
    Seq("schedule", "continuous", "trigger").flatMap(k => Option(txt(settings, k, "pause_status"))).headOption
  ).map(_ == "PAUSED").getOrElse(false)

  def jobs(s: SystemSources): Seq[InternalRow] = query(s,
    "SELECT j.job_id, j.name, j.settings_json, j.created_time, j.updated_time, j.creator, c.pause_status " +
      "FROM jobs j LEFT JOIN job_controls c ON c.job_id = j.job_id ORDER BY j.job_id") { rs =>
    val settings = json(rs.getString("settings_json"))
    val creator = rs.getString("creator")
    val tags = Option(settings.get("tags")).filter(_.isObject)
      .map(_.properties().asScala.map(e => e.getKey -> e.getValue.asText()).toMap).getOrElse(Map.empty[String, String])
    row(str("lakeloom"), str(s.workspaceId), str(rs.getLong("job_id")), str(rs.getString("name")),
      str(txt(settings, "description")), str(creator), stringMap(tags), ts(rs, "updated_time"), null,
      str(runAs(settings, creator)), str(triggerType(settings)), paused(settings, rs.getString("pause_status")),
      Option(settings.get("timeout_seconds")).filter(_.isNumber).map(_.asLong(): Any).getOrElse(null),
      ts(rs, "created_time"))
  }

  def jobTasks(s: SystemSources): Seq[InternalRow] = query(s,
    "SELECT job_id, settings_json, updated_time FROM jobs ORDER BY job_id") { rs =>
    val settings = json(rs.getString("settings_json"))
    val tasks = Option(settings.get("tasks")).filter(_.isArray).map(_.elements().asScala.toSeq).getOrElse(Seq.empty)
    tasks.map { t =>
      val deps = Option(t.get("depends_on")).filter(_.isArray).map(_.elements().asScala.map(d => txt(d, "task_key"))
        .filter(_ != null).toSeq).getOrElse(Seq.empty)
      row(str("lakeloom"), str(s.workspaceId), str(rs.getLong("job_id")), str(txt(t, "task_key")), strings(deps),
        ts(rs, "updated_time"), null)
    }
  }.flatten

  def runTimeline(s: SystemSources): Seq[InternalRow] = query(s,
    "SELECT job_id, run_id, start_time, end_time, trigger_type, run_type, run_name, result_state, termination_code, " +
      "job_parameters_json FROM runs ORDER BY run_id") { rs =>
    val params = json(rs.getString("job_parameters_json"))
    val paramMap = if (params.isObject) params.properties().asScala.map(e => e.getKey -> e.getValue.asText()).toMap
      else Map.empty[String, String]
    row(str("lakeloom"), str(s.workspaceId), str(rs.getLong("job_id")), str(rs.getLong("run_id")),
      ts(rs, "start_time"), ts(rs, "end_time"), str(rs.getString("trigger_type")), str(rs.getString("run_type")),
      str(rs.getString("run_name")), strings(Seq.empty), str(resultState(rs.getString("result_state"))),
      str(rs.getString("termination_code")), stringMap(paramMap))
  }

  def taskRunTimeline(s: SystemSources): Seq[InternalRow] = query(s,
    "SELECT r.job_id, t.task_run_id, t.run_id, t.parent_task_run_id, t.start_time, t.end_time, t.task_key, " +
      "t.result_state, t.termination_code FROM task_runs t JOIN runs r ON r.run_id = t.run_id ORDER BY t.task_run_id") { rs =>
    row(str("lakeloom"), str(s.workspaceId), str(rs.getLong("job_id")), str(rs.getLong("task_run_id")),
      str(rs.getLong("run_id")), long(rs, "parent_task_run_id").map(str).orNull,
      ts(rs, "start_time"), ts(rs, "end_time"), str(rs.getString("task_key")), strings(Seq.empty),
      str(resultState(rs.getString("result_state"))), str(rs.getString("termination_code")))
  }
}
