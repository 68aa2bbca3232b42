// Unity Catalog SQL that Spark does not have, for lakeloom's catalogs:
//   CREATE [EXTERNAL] VOLUME [IF NOT EXISTS] c.s.v [LOCATION '...'] [COMMENT '...']
//   DROP VOLUME [IF EXISTS] c.s.v
//   SHOW VOLUMES [IN|FROM c.s]
//   CREATE CATALOG [IF NOT EXISTS] c ...   (catalogs are configured, so only ones that exist)
// A volume is a record in the catalog store, next to the schema's tables:
//   <store>/<catalog>/<schema>/volumes/<volume>.json
//     {name, catalog_name, schema_name, full_name, volume_type (MANAGED|EXTERNAL),
//      storage_location, comment, owner, created_by, created_at, updated_at, volume_id, format_version}
// published exclusively like a table entry, and the folder /Volumes/<c>/<s>/<v> that the
// path-mapping file system (fs.lakeloom.volumes.root) places in the workspace; an external
// volume's folder is a link to its LOCATION. The path file systems (catalog/jvm/fs), dbutils.fs
// and Auto Loader refuse a /Volumes path whose record does not exist (UC_VOLUME_NOT_FOUND), as
// Unity Catalog does; lakeloom/catalog/listing.py reads the records from Python.
package io.lakeloom.catalog

import java.nio.file.{FileAlreadyExistsException, Files, NoSuchFileException, Path => JPath, Paths, StandardCopyOption}
import java.util.{Comparator, Locale, UUID}

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper, SerializationFeature}
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.sql.{AnalysisException, Row, SparkSession}
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeReference}
import org.apache.spark.sql.catalyst.parser.ParserInterface
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.execution.command.LeafRunnableCommand
import org.apache.spark.sql.types.StringType

object LakeloomVolumes {
  private val Ws = """(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"""
  private val Name = """((?:`[^`]+`|[A-Za-z0-9_]+)(?:\s*\.\s*(?:`[^`]+`|[A-Za-z0-9_]+)){0,2})"""
  private val CreateVolume = (s"(?is)^${Ws}CREATE\\s+(EXTERNAL\\s+)?VOLUME\\s+(IF\\s+NOT\\s+EXISTS\\s+)?$Name" +
    """(?:\s+LOCATION\s+'((?:[^']|'')*)')?(?:\s+COMMENT\s+(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)"))?\s*;?\s*$""").r
  private val DropVolume = s"(?is)^${Ws}DROP\\s+VOLUME\\s+(IF\\s+EXISTS\\s+)?$Name\\s*;?\\s*$$".r
  private val ShowVolumes = s"(?is)^${Ws}SHOW\\s+VOLUMES(?:\\s+(?:IN|FROM)\\s+$Name)?\\s*;?\\s*$$".r
  private val CreateCatalog = s"(?is)^${Ws}CREATE\\s+CATALOG\\s+(IF\\s+NOT\\s+EXISTS\\s+)?$Name(?:\\s.*)?$$".r

  /** The command for one of the statements above, or None to let Spark parse the text. */
  def parse(sql: String, parser: ParserInterface): Option[LogicalPlan] = sql match {
    case CreateVolume(external, ifNotExists, name, location, comment1, comment2) =>
      Some(CreateVolumeCommand(parser.parseMultipartIdentifier(name), ifNotExists != null,
        Option(external).map(_ => Option(location).map(_.replace("''", "'")).getOrElse(
          throw new IllegalArgumentException(s"CREATE EXTERNAL VOLUME $name needs a LOCATION"))),
        Option(comment1).map(_.replace("''", "'")).orElse(Option(comment2).map(_.replace("\"\"", "\"")))))
    case DropVolume(ifExists, name) => Some(DropVolumeCommand(parser.parseMultipartIdentifier(name), ifExists != null))
    case ShowVolumes(name) => Some(ShowVolumesCommand(Option(name).map(parser.parseMultipartIdentifier)))
    case CreateCatalog(ifNotExists, name) =>
      Some(CreateCatalogCommand(parser.parseMultipartIdentifier(name), ifNotExists != null))
    case _ => None
  }

  /** catalog, schema (and volume) of a name, completed from the current catalog and schema. */
  def qualify(spark: SparkSession, parts: Seq[String], size: Int): Seq[String] = {
    val current = Seq(spark.catalog.currentCatalog(), spark.catalog.currentDatabase)
    if (parts.length > size) {
      throw new IllegalArgumentException(s"${parts.mkString(".")}: expected at most $size name parts")
    }
    (current.take(size - parts.length) ++ parts).map(_.toLowerCase(Locale.ROOT))
  }

  def requireSchema(spark: SparkSession, catalog: String, schema: String): Unit = {
    if (spark.conf.getOption(s"spark.sql.catalog.$catalog").isEmpty) {
      throw new IllegalArgumentException(s"catalog '$catalog' does not exist (lakeloom's catalogs are listed " +
        "under catalog.catalogs in conf/lakeloom.yml)")
    }
    if (!spark.catalog.databaseExists(s"$catalog.$schema")) {
      throw new IllegalArgumentException(s"schema '$catalog.$schema' does not exist")
    }
  }

  // ---- records and folders ----------------------------------------------------------------------

  private val Mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
  val FormatVersion = 1

  private def quoted(parts: Seq[String]): String = parts.map(p => s"`$p`").mkString(".")

  private def error(condition: String, sqlState: String, text: String): AnalysisException =
    new AnalysisException(condition, sqlState, text, Map.empty[String, String], None,
      Some(s"[$condition] $text SQLSTATE: $sqlState"))

  def notFound(parts: Seq[String]): AnalysisException = error("UC_VOLUME_NOT_FOUND", "42704",
    s"Volume ${quoted(parts)} does not exist. Please use 'SHOW VOLUMES' to list available volumes.")

  def alreadyExists(parts: Seq[String]): AnalysisException = error("VOLUME_ALREADY_EXISTS", "42000",
    s"Cannot create volume ${quoted(parts)} because it already exists.\nChoose a different name, drop or replace " +
      "the existing object, or add the IF NOT EXISTS clause to tolerate pre-existing objects.")

  /** The catalog store folder (every lakeloom catalog of a workspace shares one). */
  def store(spark: SparkSession, catalog: String): JPath =
    Paths.get(spark.conf.getOption(s"spark.sql.catalog.$catalog.store").getOrElse(
      throw new IllegalArgumentException(s"catalog '$catalog' is not a lakeloom catalog: it has no volumes")))
      .toAbsolutePath

  def volumesDir(catalogDir: JPath, schema: String): JPath = catalogDir.resolve(schema).resolve("volumes")
  def recordFile(spark: SparkSession, parts: Seq[String]): JPath =
    volumesDir(store(spark, parts.head).resolve(parts.head), parts(1)).resolve(parts(2) + ".json")

  def readRecord(file: JPath): Option[ObjectNode] =
    try Some(Mapper.readTree(Files.readAllBytes(file)).asInstanceOf[ObjectNode])
    catch { case _: NoSuchFileException => None }

  /** Publishes `node` at `target` unless a file is there already (exclusive across processes). */
  def publishIfAbsent(target: JPath, node: JsonNode): Boolean = {
    Files.createDirectories(target.getParent)
    val tmp = target.resolveSibling(s".${target.getFileName}.${UUID.randomUUID()}.tmp")
    Files.write(tmp, Mapper.writeValueAsBytes(node))
    try { Files.createLink(target, tmp); true }
    catch {
      case _: FileAlreadyExistsException => false
      case _: UnsupportedOperationException =>
        if (Files.exists(target)) false else { Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE); true }
    } finally Files.deleteIfExists(tmp)
  }

  /** The local folder `/Volumes/<c>/<s>/<v>` maps to (needs the path mapping of a local master). */
  def localFolder(spark: SparkSession, parts: Seq[String]): JPath = {
    val root = Option(spark.sparkContext.hadoopConfiguration.get("fs.lakeloom.volumes.root")).getOrElse(
      throw new IllegalStateException("volumes need lakeloom's /Volumes path mapping (a local-master session)"))
    Paths.get(root, parts: _*)
  }

  def deleteTree(path: JPath): Unit =
    if (Files.isSymbolicLink(path)) Files.delete(path) // external: the link goes, the files stay
    else if (Files.exists(path)) {
      val walk = Files.walk(path)
      try walk.sorted(Comparator.reverseOrder[JPath]()).iterator().asScala.foreach(p => Files.deleteIfExists(p))
      finally walk.close()
    }

  /** Drops one volume whose record is `file`: the record first (so no new access starts), then its folder. */
  def dropRecord(spark: SparkSession, parts: Seq[String], file: JPath): Unit = {
    Files.deleteIfExists(file)
    deleteTree(localFolder(spark, parts))
  }

  /** The names of a schema's volumes, sorted. */
  def volumeNames(catalogDir: JPath, schema: String): Seq[String] = {
    val dir = volumesDir(catalogDir, schema)
    if (!Files.isDirectory(dir)) return Seq.empty
    val files = Files.list(dir)
    try files.iterator().asScala.map(_.getFileName.toString)
      .filter(n => n.endsWith(".json") && !n.startsWith(".")).map(_.stripSuffix(".json")).toSeq.sorted
    finally files.close()
  }

  /** Drops every volume of a schema (DROP SCHEMA ... CASCADE) and the schema's volumes folder. */
  def dropSchemaVolumes(catalogDir: JPath, catalog: String, schema: String): Unit = {
    lazy val spark = SparkSession.active
    volumeNames(catalogDir, schema).foreach { v =>
      dropRecord(spark, Seq(catalog, schema, v), volumesDir(catalogDir, schema).resolve(v + ".json"))
    }
    Files.deleteIfExists(volumesDir(catalogDir, schema))
  }

  /** Who owns what this session creates: the run's principal when lakeloom set one, else Spark's user. */
  def currentPrincipal(spark: SparkSession): String = authz.Identity.currentUser()
}

case class CreateVolumeCommand(name: Seq[String], ifNotExists: Boolean, location: Option[String],
    comment: Option[String] = None) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val parts @ Seq(catalog, schema, volume) = LakeloomVolumes.qualify(spark, name, 3)
    LakeloomVolumes.requireSchema(spark, catalog, schema)
    authz.Enforcement.authorizeVolumeOp("CREATE_VOLUME", parts)
    val folder = LakeloomVolumes.localFolder(spark, parts)
    val target = location.map(loc => Paths.get(new java.net.URI(if (loc.contains(":")) loc else "file:" + loc).getPath))
    if (target.isDefined && Files.exists(folder, java.nio.file.LinkOption.NOFOLLOW_LINKS) &&
        LakeloomVolumes.readRecord(LakeloomVolumes.recordFile(spark, parts)).isEmpty) {
      throw new IllegalArgumentException(s"CREATE EXTERNAL VOLUME $catalog.$schema.$volume: $folder already holds " +
        "files that belong to no volume; move them away first")
    }
    val now = System.currentTimeMillis()
    val owner = LakeloomVolumes.currentPrincipal(spark)
    val record = new ObjectMapper().createObjectNode()
    record.put("name", volume).put("catalog_name", catalog).put("schema_name", schema)
      .put("full_name", parts.mkString(".")).put("volume_type", if (target.isDefined) "EXTERNAL" else "MANAGED")
      .put("storage_location", target.getOrElse(folder).toUri.toString)
      .put("comment", comment.orNull).put("owner", owner).put("created_by", owner)
      .put("created_at", now).put("updated_at", now).put("volume_id", UUID.randomUUID().toString)
      .put("format_version", LakeloomVolumes.FormatVersion)
    if (!LakeloomVolumes.publishIfAbsent(LakeloomVolumes.recordFile(spark, parts), record)) {
      if (ifNotExists) return Seq.empty
      throw LakeloomVolumes.alreadyExists(parts)
    }
    target match {
      case Some(t) =>
        Files.createDirectories(folder.getParent)
        Files.createDirectories(t)
        Files.createSymbolicLink(folder, t)
      case None => Files.createDirectories(folder) // a folder left from before is adopted with its files
    }
    Seq.empty
  }
}

case class DropVolumeCommand(name: Seq[String], ifExists: Boolean) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val parts = LakeloomVolumes.qualify(spark, name, 3)
    val file = LakeloomVolumes.recordFile(spark, parts)
    if (LakeloomVolumes.readRecord(file).isEmpty) {
      if (ifExists) return Seq.empty
      throw LakeloomVolumes.notFound(parts)
    }
    authz.Enforcement.authorizeVolumeOp("MANAGE", parts)
    LakeloomVolumes.dropRecord(spark, parts, file)
    authz.Enforcement.dropped("VOLUME", parts)
    Seq.empty
  }
}

case class ShowVolumesCommand(inSchema: Option[Seq[String]]) extends LeafRunnableCommand {
  override val output: Seq[Attribute] = Seq(
    AttributeReference("database", StringType, nullable = false)(),
    AttributeReference("volume_name", StringType, nullable = false)())

  override def run(spark: SparkSession): Seq[Row] = {
    val Seq(catalog, db) = LakeloomVolumes.qualify(spark, inSchema.getOrElse(Seq.empty), 2)
    LakeloomVolumes.requireSchema(spark, catalog, db)
    LakeloomVolumes.volumeNames(LakeloomVolumes.store(spark, catalog).resolve(catalog), db).map(v => Row(db, v))
  }
}

case class CreateCatalogCommand(name: Seq[String], ifNotExists: Boolean) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val catalog = name.mkString(".").toLowerCase(Locale.ROOT)
    if (spark.conf.getOption(s"spark.sql.catalog.$catalog").isEmpty) {
      throw new IllegalArgumentException(s"CREATE CATALOG $catalog: lakeloom's catalogs are configured, not created " +
        s"by SQL; add '$catalog' to catalog.catalogs in conf/lakeloom.yml")
    }
    if (!ifNotExists) throw new IllegalArgumentException(s"catalog '$catalog' already exists")
    Seq.empty
  }
}
