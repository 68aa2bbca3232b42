// Schemas of the system tables (Databricks' column names and types; see docs/design-notes.md for
// the few additions), and the reader that turns JSON lines into rows of them.
package io.lakeloom.system

import java.io.File
import java.nio.charset.StandardCharsets
import java.nio.file.Files
import java.time.{Instant, LocalDate, ZoneOffset}

import scala.jdk.CollectionConverters._
import scala.util.Try

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow
import org.apache.spark.sql.catalyst.util.{ArrayBasedMapData, GenericArrayData}
import org.apache.spark.sql.types._
import org.apache.spark.unsafe.types.UTF8String

object SystemSchemas {
  private def s(names: String*): Seq[StructField] = names.map(StructField(_, StringType))
  private def ts(name: String) = StructField(name, TimestampType)
  private val EventTime = Seq(ts("event_time"), StructField("event_date", DateType))

  val Audit: StructType = StructType(
    s("account_id", "workspace_id", "version") ++ EventTime ++ s("source_ip_address", "user_agent", "session_id") ++ Seq(
      StructField("user_identity", StructType(s("email", "subject_name"))),
      StructField("service_name", StringType), StructField("action_name", StringType), StructField("request_id", StringType),
      StructField("request_params", MapType(StringType, StringType)),
      StructField("response", StructType(Seq(StructField("status_code", IntegerType)) ++ s("error_message", "result"))),
      StructField("audit_level", StringType), StructField("event_id", StringType),
      StructField("identity_metadata", StructType(s("run_by", "run_as")))))

  private def side(prefix: String, column: Boolean): Seq[StructField] =
    s(Seq("table_full_name", "table_catalog", "table_schema", "table_name", "path", "type").map(c => s"${prefix}_$c"): _*) ++
      (if (column) s(s"${prefix}_column_name") else Nil)

  private val EntityMetadata = StructField("entity_metadata", StructType(Seq(
    StructField("job_info", StructType(s("job_id", "job_run_id", "task_key", "task_run_id"))),
    StructField("dashboard_id", StringType), StructField("legacy_dashboard_id", StringType),
    StructField("notebook_id", StringType), StructField("sql_query_id", StringType),
    StructField("dlt_pipeline_info", StructType(s("dlt_pipeline_id", "dlt_update_id"))))))

  private def lineage(column: Boolean): StructType = StructType(
    s("account_id", "metastore_id", "workspace_id", "entity_type", "entity_id", "entity_run_id") ++
      side("source", column) ++ side("target", column) ++ s("created_by") ++ EventTime ++
      s("record_id", "event_id", "statement_id") :+ EntityMetadata)

  val TableLineage: StructType = lineage(column = false)
  val ColumnLineage: StructType = lineage(column = true)

  private val Ids = s("account_id", "workspace_id", "job_id")

  val Jobs: StructType = StructType(Ids ++ s("name", "description", "creator_id") ++ Seq(
    StructField("tags", MapType(StringType, StringType)), ts("change_time"), ts("delete_time"),
    StructField("run_as", StringType), StructField("trigger_type", StringType), StructField("paused", BooleanType),
    StructField("timeout_seconds", LongType), ts("create_time")))

  val JobTasks: StructType = StructType(Ids ++ s("task_key") ++ Seq(
    StructField("depends_on_keys", ArrayType(StringType)), ts("change_time"), ts("delete_time")))

  val JobRunTimeline: StructType = StructType(Ids ++ s("run_id") ++ Seq(ts("period_start_time"), ts("period_end_time")) ++
    s("trigger_type", "run_type", "run_name") ++ Seq(StructField("compute_ids", ArrayType(StringType))) ++
    s("result_state", "termination_code") :+ StructField("job_parameters", MapType(StringType, StringType)))

  val JobTaskRunTimeline: StructType = StructType(Ids ++ s("run_id", "job_run_id", "parent_run_id") ++
    Seq(ts("period_start_time"), ts("period_end_time")) ++ s("task_key") ++
    Seq(StructField("compute_ids", ArrayType(StringType))) ++ s("result_state", "termination_code"))
}

/** Values in Spark's internal representation, from plain Scala/JSON values. */
object Values {
  def str(v: Any): UTF8String = if (v == null) null else UTF8String.fromString(v.toString)

  def micros(epochMillis: Long): Long = epochMillis * 1000L

  def day(epochMillis: Long): Int = Instant.ofEpochMilli(epochMillis).atZone(ZoneOffset.UTC).toLocalDate.toEpochDay.toInt

  def stringMap(m: Map[String, String]): ArrayBasedMapData =
    ArrayBasedMapData(m.keys.toArray.map(str), m.values.toArray.map(str)).asInstanceOf[ArrayBasedMapData]

  def strings(xs: Seq[String]): GenericArrayData = new GenericArrayData(xs.map(str).toArray[Any])

  /** Epoch millis of a JSON time: a number (millis) or an ISO-8601 string. */
  def millis(n: JsonNode): Option[Long] =
    if (n == null || n.isNull) None
    else if (n.isNumber) Some(n.asLong())
    else Try(Instant.parse(n.asText()).toEpochMilli).orElse(Try(n.asText().toLong)).toOption
}

/** Rows of a system table from JSON-lines files (every `*.jsonl` under a folder, recursively). */
object JsonLines {
  private val Mapper = new ObjectMapper()

  def rows(dir: Option[String], schema: StructType, kind: Option[String]): Seq[InternalRow] = {
    val root = dir.map(new File(_)).filter(_.isDirectory)
    root.toSeq.flatMap(files).flatMap { f =>
      Files.readAllLines(f.toPath, StandardCharsets.UTF_8).asScala.iterator
        .filter(_.trim.nonEmpty)
        .flatMap(line => Try(Mapper.readTree(line)).toOption) // a line being written by another process
        .filter(n => n.isObject && kind.forall(k => Option(n.get("kind")).forall(_.asText() == k)))
        .map(n => row(n, schema))
    }
  }

  private def files(dir: File): Seq[File] =
    Option(dir.listFiles()).toSeq.flatten.sortBy(_.getName).flatMap { f =>
      if (f.isDirectory) files(f) else if (f.getName.endsWith(".jsonl")) Seq(f) else Nil
    }

  def row(n: JsonNode, schema: StructType): InternalRow = {
    val values = schema.fields.map { f =>
      val v = n.get(f.name)
      if (f.name == "event_date" && (v == null || v.isNull)) Values.millis(n.get("event_time")).map(Values.day).getOrElse(null)
      else value(v, f.dataType)
    }
    new GenericInternalRow(values.asInstanceOf[Array[Any]])
  }

  private def text(n: JsonNode): String = if (n.isValueNode) n.asText() else n.toString

  def value(n: JsonNode, t: DataType): Any = if (n == null || n.isNull) null else t match {
    case StringType => Values.str(text(n))
    case IntegerType => if (n.isNumber) n.asInt() else Try(n.asText().toInt).getOrElse(null)
    case LongType => if (n.isNumber) n.asLong() else Try(n.asText().toLong).getOrElse(null)
    case BooleanType => n.asBoolean()
    case TimestampType => Values.millis(n).map(Values.micros).getOrElse(null)
    case DateType => Try(LocalDate.parse(n.asText()).toEpochDay.toInt).toOption.orElse(Values.millis(n).map(Values.day)).getOrElse(null)
    case MapType(StringType, StringType, _) if n.isObject =>
      Values.stringMap(n.properties().asScala.map(e => e.getKey -> text(e.getValue)).toMap)
    case ArrayType(StringType, _) if n.isArray => Values.strings(n.elements().asScala.map(text).toSeq)
    case st: StructType if n.isObject => row(n, st)
    case _ => null
  }
}
