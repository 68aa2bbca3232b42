// The persistence half of a lakeloom catalog: schemas, tables and views as JSON files.
//
// The package name is load-bearing. Delta's AbstractDeltaCatalog (4.4.0) only registers a new
// table through its delegate (instead of the session catalog) when
//   delegate.getClass.getCanonicalName.startsWith("io.unitycatalog.")
// so this class must live under io.unitycatalog. tests/catalog checks that creates land here.
//
// Layout under <store>/<catalog>/ (see lakeloom/catalog/listing.py for the Python reader):
//   catalog.json
//   <schema>/schema.json
//   <schema>/tables/<name>.json     tables and views share one namespace, like Unity Catalog
//   <schema>/volumes/<name>.json    volumes (LakeloomVolumes.scala)
// Every file is published atomically (temp file + link/rename); creates are exclusive across
// processes because Files.createLink fails when the target exists.
package io.unitycatalog.lakeloom

import java.net.URI
import java.nio.charset.StandardCharsets
import java.nio.file.{FileAlreadyExistsException, Files, NoSuchFileException, Path => JPath, Paths, StandardCopyOption}
import java.util
import java.util.{Locale, UUID}

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper, SerializationFeature}
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.hadoop.fs.{Path => HPath}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.TableIdentifier
import org.apache.spark.sql.catalyst.analysis._
import org.apache.spark.sql.catalyst.catalog.{CatalogStorageFormat, CatalogTable, CatalogTableType, CatalogUtils}
import org.apache.spark.sql.connector.catalog._
import org.apache.spark.sql.connector.expressions.Transform
import org.apache.spark.sql.lakeloom.SparkInternals
import org.apache.spark.sql.lakeloom.rowsec.PendingPolicies
import org.apache.spark.sql.types.{DataType, StructType}
import org.apache.spark.sql.util.CaseInsensitiveStringMap

object LakeloomStore {
  val Mapper: ObjectMapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
  val FormatVersion = 1
  // Keys Spark/Delta pass in table properties that describe the table rather than configure it.
  val ReservedProps: Set[String] = Set(
    TableCatalog.PROP_LOCATION, TableCatalog.PROP_PROVIDER, TableCatalog.PROP_COMMENT,
    TableCatalog.PROP_OWNER, TableCatalog.PROP_EXTERNAL, TableCatalog.PROP_IS_MANAGED_LOCATION,
    TableCatalog.PROP_TABLE_TYPE, TableCatalog.PROP_COLLATION, "path", "option.path")

  def normalize(part: String): String = {
    val p = part.toLowerCase(Locale.ROOT)
    if (p.isEmpty || p.contains("/") || p.contains("\\") || p.startsWith(".") || p.contains("\u0000")) {
      throw new IllegalArgumentException(s"invalid name part '$part' for the lakeloom catalog")
    }
    p
  }
}

class LakeloomStore extends TableCatalog with SupportsNamespaces {
  import LakeloomStore._

  private var catalogName: String = _
  private var root: JPath = _
  private var warehouse: String = _
  private var defaultSchema: String = "default"

  override def name(): String = catalogName

  override def initialize(name: String, options: CaseInsensitiveStringMap): Unit = {
    catalogName = name
    val store = Option(options.get("store")).getOrElse(
      throw new IllegalArgumentException(s"spark.sql.catalog.$name.store is not set"))
    val wh = Option(options.get("warehouse")).getOrElse(
      throw new IllegalArgumentException(s"spark.sql.catalog.$name.warehouse is not set"))
    root = Paths.get(store).toAbsolutePath.resolve(normalize(name))
    warehouse = CatalogUtils.stringToURI(wh).toString.stripSuffix("/")
    Option(options.get("default-schema")).foreach(s => defaultSchema = normalize(s))
    Files.createDirectories(root)
    io.lakeloom.catalog.authz.Identity.creatingSystemObjects {
      publishIfAbsent(root.resolve("catalog.json"), obj("name" -> name, "format_version" -> FormatVersion,
        "created_at" -> System.currentTimeMillis(), "owner" -> SparkInternals.currentUser))
      for (schema <- Seq("default", defaultSchema)) {
        try createNamespace(Array(schema), new util.HashMap[String, String]())
        catch { case _: NamespaceAlreadyExistsException => }
      }
    }
  }

  override def defaultNamespace(): Array[String] = Array(defaultSchema)

  // ---- files -------------------------------------------------------------------------------

  private def obj(kv: (String, Any)*): ObjectNode = {
    val node = Mapper.createObjectNode()
    kv.foreach { case (k, v) => node.set[JsonNode](k, Mapper.valueToTree[JsonNode](v)) }
    node
  }

  private def tmpFor(target: JPath, node: JsonNode): JPath = {
    Files.createDirectories(target.getParent)
    val tmp = target.resolveSibling(s".${target.getFileName}.${UUID.randomUUID()}.tmp")
    Files.write(tmp, Mapper.writeValueAsBytes(node))
    tmp
  }

  /** Publishes `node` at `target` unless a file is already there; false if it was. */
  private def publishIfAbsent(target: JPath, node: JsonNode): Boolean = {
    val tmp = tmpFor(target, node)
    try { Files.createLink(target, tmp); true }
    catch {
      case _: FileAlreadyExistsException => false
      case _: UnsupportedOperationException => // no hard links: fall back to an exclusive rename
        if (Files.exists(target)) false
        else { Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE); true }
    } finally Files.deleteIfExists(tmp)
  }

  private def replace(target: JPath, node: JsonNode): Unit =
    Files.move(tmpFor(target, node), target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)

  private def read(path: JPath): Option[ObjectNode] =
    try Some(Mapper.readTree(Files.readAllBytes(path)).asInstanceOf[ObjectNode])
    catch { case _: NoSuchFileException => None }

  private def text(node: JsonNode, field: String): Option[String] =
    Option(node.get(field)).filterNot(_.isNull).map(_.asText())

  private def stringMap(node: JsonNode, field: String): Map[String, String] =
    Option(node.get(field)).filterNot(_.isNull).map(_.properties().asScala
      .map(e => e.getKey -> e.getValue.asText()).toMap).getOrElse(Map.empty)

  // ---- paths ---------------------------------------------------------------------------------

  private def schemaName(namespace: Array[String]): String = namespace match {
    case Array(s) => normalize(s)
    case _ => throw new NoSuchNamespaceException((catalogName +: namespace.toSeq).toSeq)
  }
  private def schemaDir(namespace: Array[String]): JPath = root.resolve(schemaName(namespace))
  private def schemaFile(namespace: Array[String]): JPath = schemaDir(namespace).resolve("schema.json")
  private def entryFile(ident: Identifier): JPath =
    schemaDir(ident.namespace()).resolve("tables").resolve(normalize(ident.name()) + ".json")
  private def fullName(ident: Identifier): Seq[String] =
    Seq(catalogName, schemaName(ident.namespace()), normalize(ident.name()))
  // For error messages: never throws, even for names the store would reject (e.g. Delta paths).
  private def displayName(ident: Identifier): Seq[String] = catalogName +: ident.namespace().toSeq :+ ident.name()

  private def requireNamespace(namespace: Array[String]): Unit =
    if (!namespaceExists(namespace)) throw new NoSuchNamespaceException((catalogName +: namespace.toSeq).toSeq)

  /** A fresh, unique location for a managed table: <warehouse>/<catalog>/<schema>/<table>-<id>. */
  def newManagedLocation(ident: Identifier): String = {
    val Seq(c, s, t) = fullName(ident)
    s"$warehouse/$c/$s/$t-${UUID.randomUUID().toString.take(8)}"
  }

  private def deleteData(location: String): Unit = {
    val path = new HPath(location)
    val conf = SparkSession.getActiveSession.map(_.sessionState.newHadoopConf())
      .getOrElse(new org.apache.hadoop.conf.Configuration())
    path.getFileSystem(conf).delete(path, true)
  }

  // ---- entries (tables and views) ------------------------------------------------------------

  /** The raw JSON entry for a table or view, re-read from disk on every call. */
  def readEntry(ident: Identifier): Option[ObjectNode] =
    if (ident.namespace().length != 1) None else try read(entryFile(ident)) catch {
      case _: IllegalArgumentException => None
    }

  def isView(entry: JsonNode): Boolean = text(entry, "table_type").contains("VIEW")

  private def listEntries(namespace: Array[String]): Seq[ObjectNode] = {
    requireNamespace(namespace)
    val dir = schemaDir(namespace).resolve("tables")
    if (!Files.isDirectory(dir)) return Seq.empty
    val files = Files.list(dir)
    try files.iterator().asScala.filter(p => p.toString.endsWith(".json") && !p.getFileName.toString.startsWith("."))
      .toSeq.sortBy(_.getFileName.toString).flatMap(read)
    finally files.close()
  }

  private def identOf(namespace: Array[String], e: JsonNode): Identifier =
    Identifier.of(Array(schemaName(namespace)), e.get("name").asText())

  override def listTables(namespace: Array[String]): Array[Identifier] =
    listEntries(namespace).filterNot(isView).map(identOf(namespace, _)).toArray

  def listViews(namespace: Array[String]): Array[Identifier] =
    listEntries(namespace).filter(isView).map(identOf(namespace, _)).toArray

  override def listTableSummaries(namespace: Array[String]): Array[TableSummary] =
    listEntries(namespace).filterNot(isView).map { e =>
      val kind = if (text(e, "table_type").contains("MANAGED")) TableSummary.MANAGED_TABLE_TYPE
        else TableSummary.EXTERNAL_TABLE_TYPE
      TableSummary.of(identOf(namespace, e), kind)
    }.toArray

  override def loadTable(ident: Identifier): Table = {
    val entry = readEntry(ident).filterNot(isView).getOrElse(throw new NoSuchTableException(displayName(ident)))
    SparkInternals.v1Table(toCatalogTable(entry))
  }

  private def toCatalogTable(e: ObjectNode): CatalogTable = {
    // A Delta table's schema and partitioning live in its log, which Delta reads; handing Delta
    // the columns stored at CREATE time, as other formats need, goes stale after a schema-merging
    // write, and a streaming read by name then fails ([DELTA_READ_SOURCE_SCHEMA_CONFLICT]: Spark
    // passes the catalog's schema as the user's). Delta's own session catalog stores none either.
    val isDelta = text(e, "data_source_format").exists(_.equalsIgnoreCase("delta"))
    val schema = Option(e.get("columns")).filterNot(_.isNull).filterNot(_ => isDelta)
      .map(n => DataType.fromJson(n.toString).asInstanceOf[StructType]).getOrElse(new StructType())
    val partitionColumns = Option(e.get("partition_columns")).filterNot(_ => isDelta)
      .map(_.elements().asScala.map(_.asText()).toSeq).getOrElse(Seq.empty)
    new CatalogTable(
      identifier = TableIdentifier(e.get("name").asText(), Some(e.get("schema_name").asText()), Some(catalogName)),
      tableType = if (text(e, "table_type").contains("MANAGED")) CatalogTableType.MANAGED else CatalogTableType.EXTERNAL,
      storage = CatalogStorageFormat.empty.copy(
        locationUri = text(e, "storage_location").map(CatalogUtils.stringToURI),
        properties = stringMap(e, "storage_properties")),
      schema = schema,
      provider = text(e, "data_source_format").map(_.toLowerCase(Locale.ROOT)),
      partitionColumnNames = partitionColumns,
      owner = text(e, "owner").getOrElse(""),
      createTime = Option(e.get("created_at")).map(_.asLong()).getOrElse(0L),
      properties = stringMap(e, "properties"),
      comment = text(e, "comment"),
      tracksPartitionsInCatalog = false)
  }

  override def createTable(
      ident: Identifier, columns: Array[Column], partitions: Array[Transform],
      properties: util.Map[String, String]): Table = {
    requireNamespace(ident.namespace())
    val props = properties.asScala.toMap
    val Seq(c, s, t) = fullName(ident)
    val managed = props.get(TableCatalog.PROP_IS_MANAGED_LOCATION).exists(_.equalsIgnoreCase("true")) ||
      props.get(TableCatalog.PROP_TABLE_TYPE).exists(_.equalsIgnoreCase(TableSummary.MANAGED_TABLE_TYPE))
    val location = props.get(TableCatalog.PROP_LOCATION)
      .map(l => CatalogUtils.URIToString(CatalogUtils.stringToURI(l)))
    val partitionColumns = partitions.filter(_.name() == "identity")
      .flatMap(_.references().headOption).map(_.fieldNames().mkString("."))
    val now = System.currentTimeMillis()
    val entry = obj(
      "name" -> t, "catalog_name" -> c, "schema_name" -> s, "full_name" -> s"$c.$s.$t",
      "table_type" -> (if (managed) "MANAGED" else "EXTERNAL"),
      "data_source_format" -> props.getOrElse(TableCatalog.PROP_PROVIDER, "delta").toUpperCase(Locale.ROOT),
      "storage_location" -> location.orNull,
      "partition_columns" -> partitionColumns.toSeq.asJava,
      "comment" -> props.get(TableCatalog.PROP_COMMENT).orNull,
      "properties" -> props.filter { case (k, _) => !ReservedProps(k) && !k.startsWith(TableCatalog.OPTION_PREFIX) }.asJava,
      "storage_properties" -> props.collect {
        case (k, v) if k.startsWith(TableCatalog.OPTION_PREFIX) && k != "option.path" =>
          k.stripPrefix(TableCatalog.OPTION_PREFIX) -> v
      }.asJava,
      "owner" -> SparkInternals.currentUser,
      "created_at" -> now, "updated_at" -> now, "table_id" -> UUID.randomUUID().toString,
      "format_version" -> FormatVersion)
    entry.set[JsonNode]("columns", Mapper.readTree(SparkInternals.columnsToStruct(columns).json))
    PendingPolicies.attach(entry, SparkInternals.columnsToStruct(columns)) // CREATE TABLE ... WITH ROW FILTER / MASK
    if (!publishIfAbsent(entryFile(ident), entry)) {
      // Another process won the race; our data went to a location nobody else knows about.
      if (managed) location.foreach(deleteData)
      throw new TableAlreadyExistsException(fullName(ident))
    }
    loadTable(ident)
  }

  // Delta registers non-Delta tables through this (deprecated) variant.
  override def createTable(
      ident: Identifier, schema: StructType, partitions: Array[Transform],
      properties: util.Map[String, String]): Table =
    createTable(ident, SparkInternals.structToColumns(schema), partitions, properties)

  override def alterTable(ident: Identifier, changes: TableChange*): Table = {
    val entry = readEntry(ident).filterNot(isView).getOrElse(throw new NoSuchTableException(displayName(ident)))
    val props = entry.`with`("properties")
    changes.foreach {
      case p: TableChange.SetProperty if p.property() == TableCatalog.PROP_COMMENT => entry.put("comment", p.value())
      case p: TableChange.SetProperty if p.property() == TableCatalog.PROP_OWNER => entry.put("owner", p.value())
      case p: TableChange.SetProperty if p.property() == TableCatalog.PROP_LOCATION =>
        entry.put("storage_location", p.value())
      case p: TableChange.SetProperty if !ReservedProps(p.property()) => props.put(p.property(), p.value())
      case p: TableChange.RemoveProperty => props.remove(p.property())
      case _ => // column changes: Delta keeps the schema in its log, which is the source of truth
    }
    entry.put("updated_at", System.currentTimeMillis())
    replace(entryFile(ident), entry)
    loadTable(ident)
  }

  /** Applies `change` to a table's entry and publishes it atomically (row filters, column masks). */
  def updateEntry(ident: Identifier)(change: ObjectNode => Unit): Unit = {
    val entry = readEntry(ident).filterNot(isView).getOrElse(throw new NoSuchTableException(displayName(ident)))
    change(entry)
    entry.put("updated_at", System.currentTimeMillis())
    replace(entryFile(ident), entry)
  }

  override def dropTable(ident: Identifier): Boolean = readEntry(ident) match {
    case Some(e) if !isView(e) =>
      Files.deleteIfExists(entryFile(ident))
      if (text(e, "table_type").contains("MANAGED")) text(e, "storage_location").foreach(deleteData)
      true
    case _ => false
  }

  override def renameTable(oldIdent: Identifier, newIdent: Identifier): Unit = {
    val entry = readEntry(oldIdent).getOrElse(throw new NoSuchTableException(displayName(oldIdent)))
    // Spark hands over the new name as typed: `t2`, `s.t2` or `main.s.t2`.
    val target = newIdent.namespace() match {
      case Array() => Identifier.of(oldIdent.namespace(), newIdent.name())
      case Array(c, s) if c.equalsIgnoreCase(catalogName) => Identifier.of(Array(s), newIdent.name())
      case _ => newIdent
    }
    requireNamespace(target.namespace())
    val Seq(c, s, t) = fullName(target)
    entry.put("name", t).put("schema_name", s).put("full_name", s"$c.$s.$t")
    entry.put("updated_at", System.currentTimeMillis())
    if (!publishIfAbsent(entryFile(target), entry)) throw new TableAlreadyExistsException(fullName(target))
    Files.deleteIfExists(entryFile(oldIdent))
  }

  // ---- views ---------------------------------------------------------------------------------

  def loadView(ident: Identifier): View = {
    val e = readEntry(ident).filter(isView).getOrElse(throw new NoSuchViewException(ident))
    val schema = DataType.fromJson(e.get("columns").toString).asInstanceOf[StructType]
    val v = e.get("view")
    val builder = new View.Builder()
      .withQueryText(v.get("query_text").asText())
      .withCurrentCatalog(text(v, "current_catalog").orNull)
      .withCurrentNamespace(v.get("current_namespace").elements().asScala.map(_.asText()).toArray)
      .withSqlConfigs(stringMap(v, "sql_configs").asJava)
      .withSchemaMode(text(v, "schema_mode").orNull)
      .withQueryColumnNames(v.get("query_column_names").elements().asScala.map(_.asText()).toArray)
    builder.withSchema(schema)
    builder.withProperties(stringMap(e, "properties").asJava)
    builder.withTableType(TableSummary.VIEW_TABLE_TYPE)
    text(e, "comment").foreach(builder.withComment)
    text(e, "owner").foreach(builder.withOwner)
    builder.build()
  }

  def writeView(ident: Identifier, view: View, orReplace: Boolean): View = {
    requireNamespace(ident.namespace())
    val Seq(c, s, t) = fullName(ident)
    val existing = readEntry(ident)
    if (existing.exists(e => !isView(e))) throw new ViewAlreadyExistsException(ident) // a table holds the name
    val props = view.properties().asScala.toMap
    val now = System.currentTimeMillis()
    val entry = obj(
      "name" -> t, "catalog_name" -> c, "schema_name" -> s, "full_name" -> s"$c.$s.$t",
      "table_type" -> "VIEW", "comment" -> props.get(TableCatalog.PROP_COMMENT).orNull,
      "properties" -> props.filter { case (k, _) => !ReservedProps(k) }.asJava,
      "owner" -> SparkInternals.currentUser,
      "created_at" -> existing.flatMap(e => Option(e.get("created_at")).map(_.asLong())).getOrElse(now),
      "updated_at" -> now, "table_id" -> UUID.randomUUID().toString, "format_version" -> FormatVersion,
      "view" -> obj(
        "query_text" -> view.queryText(), "current_catalog" -> view.currentCatalog(),
        "current_namespace" -> Option(view.currentNamespace()).getOrElse(Array.empty[String]).toSeq.asJava,
        "sql_configs" -> Option(view.sqlConfigs()).getOrElse(new util.HashMap[String, String]()),
        "schema_mode" -> view.schemaMode(),
        "query_column_names" -> Option(view.queryColumnNames()).getOrElse(Array.empty[String]).toSeq.asJava))
    entry.set[JsonNode]("columns", Mapper.readTree(view.schema().json))
    if (orReplace && existing.isDefined) replace(entryFile(ident), entry)
    else if (!publishIfAbsent(entryFile(ident), entry)) throw new ViewAlreadyExistsException(ident)
    loadView(ident)
  }

  def dropView(ident: Identifier): Boolean = readEntry(ident) match {
    case Some(e) if isView(e) => Files.deleteIfExists(entryFile(ident))
    case _ => false
  }

  // ---- namespaces (schemas) ------------------------------------------------------------------

  override def listNamespaces(): Array[Array[String]] = {
    val dirs = Files.list(root)
    try dirs.iterator().asScala.filter(d => Files.exists(d.resolve("schema.json")))
      .map(d => Array(d.getFileName.toString)).toArray.sortBy(_.head)
    finally dirs.close()
  }

  override def listNamespaces(namespace: Array[String]): Array[Array[String]] = {
    requireNamespace(namespace)
    Array.empty
  }

  override def namespaceExists(namespace: Array[String]): Boolean =
    namespace.length == 1 && (try Files.exists(schemaFile(namespace)) catch { case _: IllegalArgumentException => false })

  override def loadNamespaceMetadata(namespace: Array[String]): util.Map[String, String] = {
    val e = (if (namespace.length == 1) read(schemaFile(namespace)) else None)
      .getOrElse(throw new NoSuchNamespaceException((catalogName +: namespace.toSeq).toSeq))
    val meta = new util.HashMap[String, String](stringMap(e, "properties").asJava)
    text(e, "comment").foreach(meta.put(SupportsNamespaces.PROP_COMMENT, _))
    text(e, "owner").foreach(meta.put(SupportsNamespaces.PROP_OWNER, _))
    meta.put(SupportsNamespaces.PROP_LOCATION, s"$warehouse/$catalogName/${schemaName(namespace)}")
    meta
  }

  override def createNamespace(namespace: Array[String], metadata: util.Map[String, String]): Unit = {
    val s = schemaName(namespace)
    val md = metadata.asScala.toMap
    val entry = obj("name" -> s, "catalog_name" -> catalogName, "full_name" -> s"$catalogName.$s",
      "comment" -> md.get(SupportsNamespaces.PROP_COMMENT).orNull,
      "owner" -> SparkInternals.currentUser,
      "properties" -> md.filter { case (k, _) => !Set(SupportsNamespaces.PROP_COMMENT, SupportsNamespaces.PROP_OWNER,
        SupportsNamespaces.PROP_LOCATION)(k) }.asJava,
      "created_at" -> System.currentTimeMillis(), "format_version" -> FormatVersion)
    if (!publishIfAbsent(schemaFile(namespace), entry)) throw new NamespaceAlreadyExistsException(namespace)
  }

  override def alterNamespace(namespace: Array[String], changes: NamespaceChange*): Unit = {
    val e = read(schemaFile(namespace)).getOrElse(throw new NoSuchNamespaceException(namespace))
    val props = e.`with`("properties")
    changes.foreach {
      case p: NamespaceChange.SetProperty if p.property() == SupportsNamespaces.PROP_COMMENT => e.put("comment", p.value())
      case p: NamespaceChange.SetProperty if p.property() == SupportsNamespaces.PROP_OWNER => e.put("owner", p.value())
      case p: NamespaceChange.SetProperty => props.put(p.property(), p.value())
      case p: NamespaceChange.RemoveProperty => props.remove(p.property())
    }
    replace(schemaFile(namespace), e)
  }

  override def dropNamespace(namespace: Array[String], cascade: Boolean): Boolean = {
    if (!namespaceExists(namespace)) return false
    val entries = listEntries(namespace)
    val volumes = io.lakeloom.catalog.LakeloomVolumes.volumeNames(root, schemaName(namespace))
    if ((entries.nonEmpty || volumes.nonEmpty) && !cascade) throw new NonEmptyNamespaceException(namespace)
    entries.foreach { e =>
      val ident = identOf(namespace, e)
      if (isView(e)) dropView(ident) else dropTable(ident)
    }
    io.lakeloom.catalog.LakeloomVolumes.dropSchemaVolumes(root, catalogName, schemaName(namespace))
    val dir = schemaDir(namespace)
    Files.deleteIfExists(dir.resolve("schema.json"))
    Files.deleteIfExists(dir.resolve("tables"))
    Files.deleteIfExists(dir)
    true
  }
}
