// Unity Catalog SQL that Spark does not have, for lakeloom's catalogs:
//   CREATE [EXTERNAL] VOLUME [IF NOT EXISTS] c.s.v [LOCATION '...'] [COMMENT '...']
//   DROP VOLUME [IF EXISTS] c.s.v
//   SHOW VOLUMES [IN|FROM c.s]
//   CREATE CATALOG [IF NOT EXISTS] c ...   (catalogs are configured, so only ones that exist)
// A volume is the folder /Volumes/<c>/<s>/<v>, which the path-mapping file system
// (fs.lakeloom.volumes.root) places in the workspace; an external volume is a link to its
// LOCATION. dbutils.fs, Spark and the trigger watchers all see the same folder.
package io.lakeloom.catalog

import java.nio.file.{Files, Paths}

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeReference}
import org.apache.spark.sql.catalyst.parser.ParserInterface
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.execution.command.LeafRunnableCommand
import org.apache.spark.sql.types.StringType

object LakeloomVolumes {
  private val Ws = """(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"""
  private val Name = """((?:`[^`]+`|[A-Za-z0-9_]+)(?:\s*\.\s*(?:`[^`]+`|[A-Za-z0-9_]+)){0,2})"""
  private val CreateVolume = (s"(?is)^${Ws}CREATE\\s+(EXTERNAL\\s+)?VOLUME\\s+(IF\\s+NOT\\s+EXISTS\\s+)?$Name" +
    """(?:\s+LOCATION\s+'((?:[^']|'')*)')?(?:\s+COMMENT\s+(?:'(?:[^']|'')*'|"(?:[^"]|"")*"))?\s*;?\s*$""").r
  private val DropVolume = s"(?is)^${Ws}DROP\\s+VOLUME\\s+(IF\\s+EXISTS\\s+)?$Name\\s*;?\\s*$$".r
  private val ShowVolumes = s"(?is)^${Ws}SHOW\\s+VOLUMES(?:\\s+(?:IN|FROM)\\s+$Name)?\\s*;?\\s*$$".r
  private val CreateCatalog = s"(?is)^${Ws}CREATE\\s+CATALOG\\s+(IF\\s+NOT\\s+EXISTS\\s+)?$Name(?:\\s.*)?$$".r

  /** The command for one of the statements above, or None to let Spark parse the text. */
  def parse(sql: String, parser: ParserInterface): Option[LogicalPlan] = sql match {
    case CreateVolume(external, ifNotExists, name, location) =>
      Some(CreateVolumeCommand(parser.parseMultipartIdentifier(name), ifNotExists != null,
        Option(external).map(_ => Option(location).map(_.replace("''", "'")).getOrElse(
          throw new IllegalArgumentException(s"CREATE EXTERNAL VOLUME $name needs a LOCATION")))))
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
    (current.take(size - parts.length) ++ parts).map(_.toLowerCase)
  }

  def volumePath(spark: SparkSession, parts: Seq[String]): Path = {
    if (spark.sparkContext.hadoopConfiguration.get("fs.lakeloom.volumes.root") == null) {
      throw new IllegalStateException("volumes need lakeloom's /Volumes path mapping (a local-master session)")
    }
    new Path("/Volumes/" + parts.mkString("/"))
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
}

case class CreateVolumeCommand(name: Seq[String], ifNotExists: Boolean, location: Option[String])
    extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val Seq(catalog, schema, volume) = LakeloomVolumes.qualify(spark, name, 3)
    LakeloomVolumes.requireSchema(spark, catalog, schema)
    val path = LakeloomVolumes.volumePath(spark, Seq(catalog, schema, volume))
    val fs = path.getFileSystem(spark.sparkContext.hadoopConfiguration)
    if (fs.exists(path)) {
      if (ifNotExists) return Seq.empty
      throw new IllegalArgumentException(s"volume '$catalog.$schema.$volume' already exists")
    }
    location match {
      case Some(loc) =>
        // The volume folder is a link to the external location (a local path here).
        val local = fs.asInstanceOf[org.apache.hadoop.fs.LocalFileSystem].pathToFile(path).toPath
        Files.createDirectories(local.getParent)
        val target = Paths.get(new java.net.URI(if (loc.contains(":")) loc else "file:" + loc).getPath)
        Files.createDirectories(target)
        Files.createSymbolicLink(local, target)
      case None => fs.mkdirs(path)
    }
    Seq.empty
  }
}

case class DropVolumeCommand(name: Seq[String], ifExists: Boolean) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val Seq(catalog, schema, volume) = LakeloomVolumes.qualify(spark, name, 3)
    val path = LakeloomVolumes.volumePath(spark, Seq(catalog, schema, volume))
    val fs = path.getFileSystem(spark.sparkContext.hadoopConfiguration)
    val local = fs.asInstanceOf[org.apache.hadoop.fs.LocalFileSystem].pathToFile(path).toPath
    if (Files.isSymbolicLink(local)) {
      Files.delete(local) // external: the link goes, the files stay
    } else if (fs.exists(path)) {
      fs.delete(path, true) // managed: the files go with the volume
    } else if (!ifExists) {
      throw new IllegalArgumentException(s"volume '$catalog.$schema.$volume' does not exist")
    }
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
    val path = LakeloomVolumes.volumePath(spark, Seq(catalog, db))
    val fs = path.getFileSystem(spark.sparkContext.hadoopConfiguration)
    if (!fs.exists(path)) return Seq.empty
    fs.listStatus(path).filter(_.isDirectory).map(_.getPath.getName).sorted.map(v => Row(db, v)).toSeq
  }
}

case class CreateCatalogCommand(name: Seq[String], ifNotExists: Boolean) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val catalog = name.mkString(".").toLowerCase
    if (spark.conf.getOption(s"spark.sql.catalog.$catalog").isEmpty) {
      throw new IllegalArgumentException(s"CREATE CATALOG $catalog: lakeloom's catalogs are configured, not created " +
        s"by SQL; add '$catalog' to catalog.catalogs in conf/lakeloom.yml")
    }
    if (!ifNotExists) throw new IllegalArgumentException(s"catalog '$catalog' already exists")
    Seq.empty
  }
}
