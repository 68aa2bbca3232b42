// The `samples` catalog: Databricks' read-only sample datasets (generated stand-ins, see
// SampleTables), readable by everyone without a grant, as in every Databricks workspace.
//
// Like LakeloomCatalog it puts Delta's DeltaCatalog in front of a catalog of its own entries, so
// a table loads as a DeltaTableV2 named samples.<schema>.<table>: batch and streaming reads,
// DESCRIBE DETAIL and history behave as for any Delta table. The entries materialize a table on
// its first load (SampleData). Every change through the catalog (CREATE, ALTER, DROP, writes
// that load a table for writing) is refused here; Delta's own commands and path writes are
// refused by SamplesWriteGuard, the check rule.
package io.lakeloom.samples

import java.util

import scala.jdk.CollectionConverters._

import org.apache.spark.sql.AnalysisException
import org.apache.spark.sql.catalyst.TableIdentifier
import org.apache.spark.sql.catalyst.analysis.{NoSuchNamespaceException, NoSuchTableException}
import org.apache.spark.sql.catalyst.catalog.{CatalogStorageFormat, CatalogTable, CatalogTableType}
import org.apache.spark.sql.connector.catalog._
import org.apache.spark.sql.connector.expressions.Transform
import org.apache.spark.sql.internal.SQLConf
import org.apache.spark.sql.lakeloom.SparkInternals
import org.apache.spark.sql.types.StructType
import org.apache.spark.sql.util.CaseInsensitiveStringMap

import io.lakeloom.catalog.LakeloomCatalog

/** Databricks' error for a command Unity Catalog does not run, here: a change to `samples`. */
class SamplesReadOnlyException(message: String)
    extends AnalysisException(message, None, None, None, Some(SamplesCatalog.ErrorClass), Map.empty[String, String],
      Array.empty[org.apache.spark.QueryContext]) {
  override def getSqlState: String = "0AKUC"
  override def getMessage: String = message
  override def getCondition: String = SamplesCatalog.ErrorClass
}

object SamplesCatalog {
  val ClassName = "io.lakeloom.samples.SamplesCatalog"
  val ErrorClass = "UC_COMMAND_NOT_SUPPORTED.WITHOUT_RECOMMENDATION"

  def readOnly(command: String, target: String): SamplesReadOnlyException = new SamplesReadOnlyException(
    s"[$ErrorClass] The command(s): $command are not supported in Unity Catalog: $target is in the read-only " +
      "`samples` catalog (Databricks' sample datasets; everyone can read them, nobody can change them). " +
      "Copy what you need into a catalog you can write to, e.g. CREATE TABLE main.default.trips AS " +
      "SELECT * FROM samples.nyctaxi.trips. SQLSTATE: 0AKUC")

  /** Whether `catalog` is registered as a samples catalog in the current session. */
  def isSamplesCatalog(catalog: String): Boolean =
    SQLConf.get.getConfString(s"spark.sql.catalog.$catalog", "") == ClassName

  /** Refuses GRANT / REVOKE / ALTER OWNER on anything in a samples catalog (called by GrantSql). */
  def refuseGrants(parts: Seq[String]): Unit =
    if (parts.nonEmpty && isSamplesCatalog(parts.head)) {
      throw readOnly("GRANT, REVOKE, SHOW GRANTS and ALTER OWNER (every principal can read it without a grant)",
        parts.mkString("."))
    }

  /** The sample table an identifier names (one schema level), if any. */
  def find(ident: Identifier): Option[SampleTable] = ident.namespace() match {
    case Array(schema) => SampleTables.find(schema, ident.name())
    case _ => None
  }

  /** The default folder of the materialized tables when the catalog is given none (`cache-dir`). */
  def defaultCacheDir: String = Option(System.getenv("LAKELOOM_CACHE_DIR")).filter(_.nonEmpty)
    .getOrElse(Option(System.getenv("XDG_CACHE_HOME")).filter(_.nonEmpty)
      .getOrElse(System.getProperty("user.home") + "/.cache") + "/lakeloom") + "/samples"
}

/** The catalog's own entries, each a V1 table description that Delta turns into a DeltaTableV2. */
private class SampleEntries(catalogName: String, root: java.nio.file.Path) extends TableCatalog {
  override def initialize(name: String, options: CaseInsensitiveStringMap): Unit = ()
  override def name(): String = catalogName

  override def loadTable(ident: Identifier): Table = {
    val t = SamplesCatalog.find(ident).getOrElse(throw new NoSuchTableException(ident.namespace().toSeq :+ ident.name()))
    val dir = SampleData.ensure(root, t)
    SparkInternals.v1Table(CatalogTable(
      identifier = TableIdentifier(t.name, Some(t.schema), Some(catalogName)),
      tableType = CatalogTableType.EXTERNAL,
      storage = CatalogStorageFormat.empty.copy(locationUri = Some(dir.toUri)),
      schema = t.columns,
      provider = Some("delta"),
      owner = "System user",
      comment = Some(t.comment),
      tracksPartitionsInCatalog = false))
  }

  override def listTables(namespace: Array[String]): Array[Identifier] = Array.empty
  override def createTable(ident: Identifier, schema: StructType, partitions: Array[Transform],
                           properties: util.Map[String, String]): Table = throw SamplesCatalog.readOnly("CREATE TABLE", ident.toString)
  override def alterTable(ident: Identifier, changes: TableChange*): Table = throw SamplesCatalog.readOnly("ALTER TABLE", ident.toString)
  override def dropTable(ident: Identifier): Boolean = throw SamplesCatalog.readOnly("DROP TABLE", ident.toString)
  override def renameTable(oldIdent: Identifier, newIdent: Identifier): Unit =
    throw SamplesCatalog.readOnly("ALTER TABLE RENAME", oldIdent.toString)
}

class SamplesCatalog extends TableCatalog with SupportsNamespaces {
  private var catalogName = "samples"
  private var delta: TableCatalog = _

  override def initialize(name: String, options: CaseInsensitiveStringMap): Unit = {
    catalogName = name
    val root = SampleData.root(Option(options.get("cache-dir")).filter(_.nonEmpty).getOrElse(SamplesCatalog.defaultCacheDir))
    delta = LakeloomCatalog.deltaInFrontOf(new SampleEntries(name, root), name, options, s"the samples catalog '$name'")
  }

  override def name(): String = catalogName
  override def defaultNamespace(): Array[String] = Array(SampleTables.All.head.schema)

  private def fullName(ident: Identifier): String = (catalogName +: ident.namespace().toSeq :+ ident.name()).mkString(".")
  private def refuse(command: String, what: String): Nothing = throw SamplesCatalog.readOnly(command, what)

  override def listTables(namespace: Array[String]): Array[Identifier] =
    tablesOf(namespace).map(t => Identifier.of(Array(t.schema), t.name)).toArray

  override def loadTable(ident: Identifier): Table = delta.loadTable(ident)
  override def loadTable(ident: Identifier, version: String): Table = delta.loadTable(ident, version)
  override def loadTable(ident: Identifier, timestamp: Long): Table = delta.loadTable(ident, timestamp)

  override def loadTable(ident: Identifier, writePrivileges: util.Set[TableWritePrivilege]): Table =
    refuse(writePrivileges.asScala.map(_.toString).toSeq.sorted.mkString(", "), fullName(ident))

  override def tableExists(ident: Identifier): Boolean = SamplesCatalog.find(ident).isDefined

  override def createTable(ident: Identifier, columns: Array[Column], partitions: Array[Transform],
                           properties: util.Map[String, String]): Table = refuse("CREATE TABLE", fullName(ident))
  override def createTable(ident: Identifier, schema: StructType, partitions: Array[Transform],
                           properties: util.Map[String, String]): Table = refuse("CREATE TABLE", fullName(ident))
  override def alterTable(ident: Identifier, changes: TableChange*): Table = refuse("ALTER TABLE", fullName(ident))
  override def dropTable(ident: Identifier): Boolean = refuse("DROP TABLE", fullName(ident))
  override def purgeTable(ident: Identifier): Boolean = refuse("DROP TABLE", fullName(ident))
  override def renameTable(oldIdent: Identifier, newIdent: Identifier): Unit = refuse("ALTER TABLE RENAME", fullName(oldIdent))

  private def tablesOf(namespace: Array[String]): Seq[SampleTable] = namespace match {
    case Array(s) if SampleTables.Schemas.contains(s.toLowerCase) => SampleTables.Schemas(s.toLowerCase).sortBy(_.name)
    case _ => throw new NoSuchNamespaceException((catalogName +: namespace.toSeq).toSeq)
  }

  override def listNamespaces(): Array[Array[String]] = SampleTables.Schemas.keys.toSeq.sorted.map(Array(_)).toArray
  override def listNamespaces(namespace: Array[String]): Array[Array[String]] = { tablesOf(namespace); Array.empty }
  override def namespaceExists(namespace: Array[String]): Boolean =
    namespace.length == 1 && SampleTables.Schemas.contains(namespace(0).toLowerCase)
  override def loadNamespaceMetadata(namespace: Array[String]): util.Map[String, String] = {
    tablesOf(namespace)
    util.Map.of(SupportsNamespaces.PROP_COMMENT, s"Databricks sample dataset ${namespace(0).toLowerCase} " +
      "(a generated stand-in with the real schema and row counts)")
  }
  override def createNamespace(namespace: Array[String], metadata: util.Map[String, String]): Unit =
    refuse("CREATE SCHEMA", (catalogName +: namespace.toSeq).mkString("."))
  override def alterNamespace(namespace: Array[String], changes: NamespaceChange*): Unit =
    refuse("ALTER SCHEMA", (catalogName +: namespace.toSeq).mkString("."))
  override def dropNamespace(namespace: Array[String], cascade: Boolean): Boolean =
    refuse("DROP SCHEMA", (catalogName +: namespace.toSeq).mkString("."))
}
