// The `system` catalog: Databricks' system tables, read-only, answered on the driver.
//
//   system.access.audit            JSON lines under <catalog_dir>/.audit/   (any sub-folder)
//   system.access.table_lineage    JSON lines under <catalog_dir>/.lineage/ (kind = table)
//   system.access.column_lineage   the same files                           (kind = column)
//   system.lakeflow.jobs | job_tasks | job_run_timeline | job_task_run_timeline
//                                  the run store, read over JDBC (sqlite-jdbc) at every scan
//
// Every scan re-reads its source, so a row written by another process (serve, another run) is
// visible to the next query. Scans are LocalScans: rows are built on the driver, where the
// files and the store are, and Spark plans them as a LocalTableScan.
package io.lakeloom.system

import java.util

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.analysis.{NoSuchNamespaceException, NoSuchTableException}
import org.apache.spark.sql.connector.catalog._
import org.apache.spark.sql.connector.expressions.Transform
import org.apache.spark.sql.connector.read.{LocalScan, Scan, ScanBuilder}
import org.apache.spark.sql.types.StructType
import org.apache.spark.sql.util.CaseInsensitiveStringMap

/** One system table: its schema and how to produce its rows (re-read on every scan). */
case class SystemTableDef(schema: StructType, rows: SystemSources => Seq[InternalRow])

/** Where the system tables' data lives (the catalog's options). */
case class SystemSources(lineageDir: Option[String], auditDir: Option[String], storeUrl: Option[String],
                         workspaceId: String)

object SystemCatalog {
  val Tables: Map[String, Map[String, SystemTableDef]] = Map(
    "access" -> Map(
      "audit" -> SystemTableDef(SystemSchemas.Audit, s => JsonLines.rows(s.auditDir, SystemSchemas.Audit, None)),
      "table_lineage" -> SystemTableDef(SystemSchemas.TableLineage,
        s => JsonLines.rows(s.lineageDir, SystemSchemas.TableLineage, Some("table"))),
      "column_lineage" -> SystemTableDef(SystemSchemas.ColumnLineage,
        s => JsonLines.rows(s.lineageDir, SystemSchemas.ColumnLineage, Some("column")))),
    "lakeflow" -> Map(
      "jobs" -> SystemTableDef(SystemSchemas.Jobs, s => LakeflowTables.jobs(s)),
      "job_tasks" -> SystemTableDef(SystemSchemas.JobTasks, s => LakeflowTables.jobTasks(s)),
      "job_run_timeline" -> SystemTableDef(SystemSchemas.JobRunTimeline, s => LakeflowTables.runTimeline(s)),
      "job_task_run_timeline" -> SystemTableDef(SystemSchemas.JobTaskRunTimeline, s => LakeflowTables.taskRunTimeline(s))))
}

class SystemTable(fullName: String, definition: SystemTableDef, sources: SystemSources) extends Table with SupportsRead {
  override def name(): String = fullName
  override def schema(): StructType = definition.schema
  override def capabilities(): util.Set[TableCapability] = util.EnumSet.of(TableCapability.BATCH_READ)
  override def properties(): util.Map[String, String] = util.Map.of("comment", s"lakeloom system table $fullName")
  override def newScanBuilder(options: CaseInsensitiveStringMap): ScanBuilder = () => new LocalScan {
    override def rows(): Array[InternalRow] = definition.rows(sources).toArray
    override def readSchema(): StructType = definition.schema
    override def description(): String = fullName
  }
}

class SystemCatalog extends TableCatalog with SupportsNamespaces {
  import SystemCatalog.Tables

  private var catalogName = "system"
  private var sources = SystemSources(None, None, None, "0")

  override def initialize(name: String, options: CaseInsensitiveStringMap): Unit = {
    catalogName = name
    def opt(key: String) = Option(options.get(key)).filter(_.nonEmpty)
    sources = SystemSources(opt("lineage-dir"), opt("audit-dir"), opt("store-url"), opt("workspace-id").getOrElse("0"))
  }

  override def name(): String = catalogName
  override def defaultNamespace(): Array[String] = Array("access")

  private def readOnly(what: String): Nothing =
    throw new UnsupportedOperationException(s"$what: the system catalog is read-only (its tables are maintained by lakeloom)")

  private def schemaOf(namespace: Array[String]): Map[String, SystemTableDef] = namespace match {
    case Array(s) if Tables.contains(s.toLowerCase) => Tables(s.toLowerCase)
    case _ => throw new NoSuchNamespaceException((catalogName +: namespace.toSeq).toSeq)
  }

  override def listTables(namespace: Array[String]): Array[Identifier] =
    schemaOf(namespace).keys.toSeq.sorted.map(t => Identifier.of(namespace.map(_.toLowerCase), t)).toArray

  override def loadTable(ident: Identifier): Table = {
    val fullName = (catalogName +: ident.namespace().toSeq :+ ident.name()).mkString(".")
    val defs = try schemaOf(ident.namespace()) catch {
      case _: NoSuchNamespaceException => throw new NoSuchTableException(ident.namespace().toSeq :+ ident.name())
    }
    defs.get(ident.name().toLowerCase) match {
      case Some(d) => new SystemTable(fullName.toLowerCase, d, sources)
      case None => throw new NoSuchTableException(ident.namespace().toSeq :+ ident.name())
    }
  }

  override def createTable(ident: Identifier, columns: Array[Column], partitions: Array[Transform],
                           properties: util.Map[String, String]): Table = readOnly(s"CREATE TABLE $catalogName.$ident")
  override def createTable(ident: Identifier, schema: StructType, partitions: Array[Transform],
                           properties: util.Map[String, String]): Table = readOnly(s"CREATE TABLE $catalogName.$ident")
  override def alterTable(ident: Identifier, changes: TableChange*): Table = readOnly(s"ALTER TABLE $catalogName.$ident")
  override def dropTable(ident: Identifier): Boolean = readOnly(s"DROP TABLE $catalogName.$ident")
  override def renameTable(oldIdent: Identifier, newIdent: Identifier): Unit = readOnly(s"RENAME $catalogName.$oldIdent")

  override def listNamespaces(): Array[Array[String]] = Tables.keys.toSeq.sorted.map(Array(_)).toArray
  override def listNamespaces(namespace: Array[String]): Array[Array[String]] = { schemaOf(namespace); Array.empty }
  override def namespaceExists(namespace: Array[String]): Boolean =
    namespace.length == 1 && Tables.contains(namespace(0).toLowerCase)
  override def loadNamespaceMetadata(namespace: Array[String]): util.Map[String, String] = {
    schemaOf(namespace)
    util.Map.of(SupportsNamespaces.PROP_COMMENT, s"lakeloom system schema ${namespace(0).toLowerCase}")
  }
  override def createNamespace(namespace: Array[String], metadata: util.Map[String, String]): Unit =
    readOnly(s"CREATE SCHEMA $catalogName.${namespace.mkString(".")}")
  override def alterNamespace(namespace: Array[String], changes: NamespaceChange*): Unit =
    readOnly(s"ALTER SCHEMA $catalogName.${namespace.mkString(".")}")
  override def dropNamespace(namespace: Array[String], cascade: Boolean): Boolean =
    readOnly(s"DROP SCHEMA $catalogName.${namespace.mkString(".")}")
}
