// The catalog plugin registered as spark.sql.catalog.<name>: a Unity-Catalog-style
// catalog.schema.table namespace backed by LakeloomStore, with Delta doing the table work.
//
// Like Unity Catalog's UCSingleCatalog, it instantiates Delta's DeltaCatalog reflectively and
// makes the store its delegate (Spark only does that for spark_catalog). Tables flow
//   Spark -> LakeloomCatalog -> DeltaCatalog -> LakeloomStore
// so Delta turns stored entries into DeltaTableV2 and registers new tables through the store.
// Views never touch Delta. Every entry point calls `authorize` first: it is the one place where
// grants will be enforced.
package io.lakeloom.catalog

import java.util

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.catalyst.analysis.{NoSuchNamespaceException, NoSuchTableException, NoSuchViewException, NonEmptyNamespaceException}
import org.apache.spark.sql.connector.catalog._
import org.apache.spark.sql.connector.catalog.functions.UnboundFunction
import org.apache.spark.sql.connector.expressions.Transform
import org.apache.spark.sql.internal.SQLConf
import org.apache.spark.sql.lakeloom.SparkInternals
import org.apache.spark.sql.lakeloom.rowsec.CatalogFunctions
import org.apache.spark.sql.types.StructType
import org.apache.spark.sql.util.CaseInsensitiveStringMap

import io.lakeloom.catalog.authz.Enforcement
import io.unitycatalog.lakeloom.LakeloomStore

object LakeloomCatalog {
  /** Delta's DeltaCatalog, instantiated reflectively, with `entries` as its delegate and
   *  initialized as catalog `name`: Delta then turns the entries into DeltaTableV2. `who` names
   *  the catalog in the error when Delta is not on spark.jars. */
  def deltaInFrontOf(entries: TableCatalog, name: String, options: CaseInsensitiveStringMap, who: String): TableCatalog = {
    val deltaCatalog = try {
      Class.forName("org.apache.spark.sql.delta.catalog.DeltaCatalog").getDeclaredConstructor().newInstance()
    } catch {
      case e: ClassNotFoundException => throw new IllegalStateException(
        s"$who needs Delta Lake: io.delta:delta-spark is not on spark.jars", e)
    }
    deltaCatalog.asInstanceOf[DelegatingCatalogExtension].setDelegateCatalog(entries)
    val delta = deltaCatalog.asInstanceOf[TableCatalog]
    // Delta 4.4.0 treats our entries as Unity Catalog and, unless told otherwise, routes table
    // operations through a UC REST client (deltaRestApi.enabled defaults to true).
    val deltaOptions = new util.HashMap[String, String](options.asCaseSensitiveMap())
    deltaOptions.put("deltaRestApi.enabled", "false")
    delta.initialize(name, new CaseInsensitiveStringMap(deltaOptions))
    delta
  }
}

class LakeloomCatalog extends StagingTableCatalog with SupportsNamespaces with RelationCatalog with FunctionCatalog {

  private var store: LakeloomStore = _
  private var functions: CatalogFunctions = _
  private var delta: StagingTableCatalog = _

  override def initialize(name: String, options: CaseInsensitiveStringMap): Unit = {
    store = new LakeloomStore()
    store.initialize(name, options)
    functions = new CatalogFunctions(name, options)
    delta = LakeloomCatalog.deltaInFrontOf(store, name, options, s"lakeloom catalog '$name'")
      .asInstanceOf[StagingTableCatalog]
  }

  override def name(): String = store.name()

  /** The catalog's entries, for lakeloom's own commands (row filters and column masks). */
  def entryStore: LakeloomStore = store
  override def defaultNamespace(): Array[String] = store.defaultNamespace()
  override def capabilities(): util.Set[TableCatalogCapability] = delta.capabilities()

  /**
   * Governance hook: called before every catalog operation with the privilege it needs and the
   * securable (catalog.schema.table); throws INSUFFICIENT_PERMISSIONS to deny (authz/Enforcement).
   */
  protected def authorize(privilege: String, securable: Seq[String]): Unit =
    if (!isPathSecurable(securable)) Enforcement.authorizeCatalogOp(privilege, securable)

  private def isPathSecurable(securable: Seq[String]): Boolean = securable.lastOption.exists(new Path(_).isAbsolute)

  private def securable(ident: Identifier): Seq[String] = name() +: ident.namespace().toSeq :+ ident.name()

  private def isPathIdentifier(ident: Identifier): Boolean =
    ident.namespace().length == 1 && new Path(ident.name()).isAbsolute

  private def defaultProvider: String = SQLConf.get.getConf(SQLConf.DEFAULT_DATA_SOURCE_NAME)

  /** Adds the provider (v2 catalogs get none without USING) and a managed location when needed. */
  private def prepareCreate(ident: Identifier, properties: util.Map[String, String]): util.Map[String, String] = {
    val props = new util.HashMap[String, String](properties)
    props.putIfAbsent(TableCatalog.PROP_PROVIDER, defaultProvider)
    if (isPathIdentifier(ident)) return props
    if (!store.namespaceExists(ident.namespace())) {
      throw new NoSuchNamespaceException((name() +: ident.namespace().toSeq).toSeq)
    }
    if (!props.containsKey(TableCatalog.PROP_LOCATION)) {
      if (props.containsKey(TableCatalog.PROP_EXTERNAL)) {
        throw new IllegalArgumentException(s"CREATE EXTERNAL TABLE ${securable(ident).mkString(".")} needs a LOCATION")
      }
      val provider = props.get(TableCatalog.PROP_PROVIDER)
      if (!provider.equalsIgnoreCase("delta")) {
        throw new UnsupportedOperationException(
          s"managed tables in lakeloom catalogs are Delta tables; ${securable(ident).mkString(".")} asks for " +
          s"USING $provider. Use USING DELTA, or give a LOCATION for an external $provider table.")
      }
      props.put(TableCatalog.PROP_LOCATION, store.newManagedLocation(ident))
      props.put(TableCatalog.PROP_IS_MANAGED_LOCATION, "true")
    }
    props
  }

  /** For REPLACE: keep the existing table's location (Delta writes a new version there). */
  private def prepareReplace(
      ident: Identifier, properties: util.Map[String, String], orCreate: Boolean): util.Map[String, String] = {
    store.readEntry(ident) match {
      case Some(e) if store.isView(e) =>
        throw new IllegalArgumentException(s"${securable(ident).mkString(".")} is a view, not a table")
      case Some(e) =>
        val props = new util.HashMap[String, String](properties)
        props.putIfAbsent(TableCatalog.PROP_PROVIDER, defaultProvider)
        if (e.get("table_type").asText() == "MANAGED") {
          props.remove(TableCatalog.PROP_LOCATION)
          props.put(TableCatalog.PROP_IS_MANAGED_LOCATION, "true")
        } else {
          props.putIfAbsent(TableCatalog.PROP_LOCATION, e.get("storage_location").asText())
        }
        props
      case None if orCreate || isPathIdentifier(ident) => prepareCreate(ident, properties)
      case None => throw new NoSuchTableException(securable(ident))
    }
  }

  // ---- tables --------------------------------------------------------------------------------

  override def listTables(namespace: Array[String]): Array[Identifier] = {
    authorize("USE_SCHEMA", name() +: namespace.toSeq)
    store.listTables(namespace)
  }

  override def listTableSummaries(namespace: Array[String]): Array[TableSummary] = {
    authorize("USE_SCHEMA", name() +: namespace.toSeq)
    store.listTableSummaries(namespace)
  }

  override def loadTable(ident: Identifier): Table = {
    authorize("SELECT", securable(ident))
    delta.loadTable(ident)
  }

  override def loadTable(ident: Identifier, writePrivileges: util.Set[TableWritePrivilege]): Table = {
    authorize("MODIFY", securable(ident))
    delta.loadTable(ident)
  }

  override def loadTable(ident: Identifier, version: String): Table = {
    authorize("SELECT", securable(ident))
    delta.loadTable(ident, version)
  }

  override def loadTable(ident: Identifier, timestamp: Long): Table = {
    authorize("SELECT", securable(ident))
    delta.loadTable(ident, timestamp)
  }

  override def loadRelation(ident: Identifier): Relation = store.readEntry(ident) match {
    case Some(e) if store.isView(e) => loadView(ident)
    case _ => loadTable(ident)
  }

  override def tableExists(ident: Identifier): Boolean = delta.tableExists(ident)

  override def invalidateTable(ident: Identifier): Unit = delta.invalidateTable(ident)

  override def createTable(
      ident: Identifier, columns: Array[Column], partitions: Array[Transform],
      properties: util.Map[String, String]): Table = {
    authorize("CREATE_TABLE", securable(ident))
    delta.createTable(ident, columns, partitions, prepareCreate(ident, properties))
  }

  override def createTable(
      ident: Identifier, schema: StructType, partitions: Array[Transform],
      properties: util.Map[String, String]): Table =
    createTable(ident, SparkInternals.structToColumns(schema), partitions, properties)

  override def createTableLike(ident: Identifier, info: TableInfo, source: Table): Table = {
    authorize("CREATE_TABLE", securable(ident))
    val props = new util.HashMap[String, String](info.properties())
    Option(source.properties().get(TableCatalog.PROP_PROVIDER)).foreach(props.putIfAbsent(TableCatalog.PROP_PROVIDER, _))
    delta.createTable(ident, info.columns(), info.partitions(), prepareCreate(ident, props))
  }

  override def stageCreate(
      ident: Identifier, columns: Array[Column], partitions: Array[Transform],
      properties: util.Map[String, String]): StagedTable = {
    authorize("CREATE_TABLE", securable(ident))
    delta.stageCreate(ident, columns, partitions, prepareCreate(ident, properties))
  }

  override def stageReplace(
      ident: Identifier, columns: Array[Column], partitions: Array[Transform],
      properties: util.Map[String, String]): StagedTable = {
    authorize("MODIFY", securable(ident))
    delta.stageReplace(ident, columns, partitions, prepareReplace(ident, properties, orCreate = false))
  }

  override def stageCreateOrReplace(
      ident: Identifier, columns: Array[Column], partitions: Array[Transform],
      properties: util.Map[String, String]): StagedTable = {
    authorize(if (store.readEntry(ident).isDefined) "MODIFY" else "CREATE_TABLE", securable(ident))
    delta.stageCreateOrReplace(ident, columns, partitions, prepareReplace(ident, properties, orCreate = true))
  }

  override def alterTable(ident: Identifier, changes: TableChange*): Table = {
    authorize("MANAGE", securable(ident))
    delta.alterTable(ident, changes: _*)
  }

  override def dropTable(ident: Identifier): Boolean = {
    authorize("MANAGE", securable(ident))
    delta.dropTable(ident) && { Enforcement.dropped("TABLE", securable(ident)); true }
  }

  override def purgeTable(ident: Identifier): Boolean = dropTable(ident)

  override def renameTable(oldIdent: Identifier, newIdent: Identifier): Unit = {
    authorize("MANAGE", securable(oldIdent))
    store.renameTable(oldIdent, newIdent)
    Enforcement.renamed(securable(oldIdent), newIdent)
  }

  // ---- views ---------------------------------------------------------------------------------

  override def listViews(namespace: Array[String]): Array[Identifier] = {
    authorize("USE_SCHEMA", name() +: namespace.toSeq)
    store.listViews(namespace)
  }

  override def loadView(ident: Identifier): View = {
    authorize("SELECT", securable(ident))
    store.loadView(ident)
  }

  override def viewExists(ident: Identifier): Boolean = store.readEntry(ident).exists(store.isView)

  override def createView(ident: Identifier, view: View): View = {
    authorize("CREATE_TABLE", securable(ident))
    store.writeView(ident, view, orReplace = false)
  }

  override def replaceView(ident: Identifier, view: View): View = {
    authorize("MANAGE", securable(ident))
    if (!viewExists(ident)) throw new NoSuchViewException(ident)
    store.writeView(ident, view, orReplace = true)
  }

  override def createOrReplaceView(ident: Identifier, view: View): View = {
    authorize(if (viewExists(ident)) "MANAGE" else "CREATE_TABLE", securable(ident))
    store.writeView(ident, view, orReplace = true)
  }

  override def dropView(ident: Identifier): Boolean = {
    authorize("MANAGE", securable(ident))
    store.dropView(ident) && { Enforcement.dropped("TABLE", securable(ident)); true }
  }

  override def renameView(oldIdent: Identifier, newIdent: Identifier): Unit = {
    authorize("MANAGE", securable(oldIdent))
    if (!viewExists(oldIdent)) throw new NoSuchViewException(oldIdent)
    store.renameTable(oldIdent, newIdent)
    Enforcement.renamed(securable(oldIdent), newIdent)
  }

  // ---- functions (SQL UDFs; see rowsec/CatalogFunctions.scala) ------------------------------

  override def listFunctions(namespace: Array[String]): Array[Identifier] = {
    authorize("USE_SCHEMA", name() +: namespace.toSeq)
    functions.listIdentifiers(namespace)
  }

  override def loadFunction(ident: Identifier): UnboundFunction = {
    authorize("EXECUTE", securable(ident))
    functions.loadFunction(ident)
  }

  // ---- namespaces ----------------------------------------------------------------------------

  override def listNamespaces(): Array[Array[String]] = store.listNamespaces()
  override def listNamespaces(namespace: Array[String]): Array[Array[String]] = store.listNamespaces(namespace)
  override def namespaceExists(namespace: Array[String]): Boolean = store.namespaceExists(namespace)
  override def loadNamespaceMetadata(namespace: Array[String]): util.Map[String, String] =
    store.loadNamespaceMetadata(namespace)

  override def createNamespace(namespace: Array[String], metadata: util.Map[String, String]): Unit = {
    authorize("CREATE_SCHEMA", Seq(name()))
    store.createNamespace(namespace, metadata)
  }

  override def alterNamespace(namespace: Array[String], changes: NamespaceChange*): Unit = {
    authorize("MANAGE", name() +: namespace.toSeq)
    store.alterNamespace(namespace, changes: _*)
  }

  override def dropNamespace(namespace: Array[String], cascade: Boolean): Boolean = {
    authorize("MANAGE", name() +: namespace.toSeq)
    if (functions.dropAll(namespace, cascade)) throw new NonEmptyNamespaceException(namespace)
    store.dropNamespace(namespace, cascade) && { Enforcement.dropped("SCHEMA", name() +: namespace.toSeq); true }
  }
}
