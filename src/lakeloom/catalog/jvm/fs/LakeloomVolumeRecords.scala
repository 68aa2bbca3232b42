// Which volumes exist, for the path file systems: a `/Volumes/<catalog>/<schema>/<volume>/...`
// path is usable only when its volume has a record in the catalog store, as in Unity Catalog,
// where writing under a volume that was never created fails with UC_VOLUME_NOT_FOUND.
//
//   <store>/<catalog>/<schema>/volumes/<volume>.json     written by CREATE VOLUME (catalog jar)
//
// This jar sits on the driver's class path without the catalog jar's classes, so it reads the
// records itself. Every check costs one stat of the record file: a volume created or dropped by
// another process is seen at once, and the parsed record is cached for as long as the file's
// identity (inode) and modification time stay the same.
package io.lakeloom.fs

import java.nio.file.{Files, NoSuchFileException, Path => JPath, Paths}
import java.nio.file.attribute.BasicFileAttributes
import java.util.Locale
import java.util.concurrent.ConcurrentHashMap

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import org.apache.spark.sql.AnalysisException

/** One volume, as its record in the catalog store describes it (Unity Catalog's field names). */
case class VolumeRecord(catalog: String, schema: String, name: String, volumeType: String, owner: Option[String]) {
  def fullName: String = s"$catalog.$schema.$name"
}

/** A failed volume access with Databricks' error condition, SQLSTATE and text. */
class VolumeAccessException(condition: String, sqlState: String, text: String, params: Map[String, String])
  extends AnalysisException(condition, sqlState, text, params, None, Some(s"[$condition] $text SQLSTATE: $sqlState"))

object VolumeRecords {
  val StoreKey = "fs.lakeloom.catalog.store"
  val Folder = "volumes"

  private val Mapper = new ObjectMapper()
  private case class Cached(key: Any, modified: Long, record: VolumeRecord)
  private val cache = new ConcurrentHashMap[JPath, Cached]()

  private def quoted(parts: Seq[String]): String = parts.map(p => s"`$p`").mkString(".")

  def notFound(catalog: String, schema: String, volume: String): VolumeAccessException =
    new VolumeAccessException("UC_VOLUME_NOT_FOUND", "42704",
      s"Volume ${quoted(Seq(catalog, schema, volume))} does not exist. Please use 'SHOW VOLUMES' to list available volumes.",
      Map("volumeName" -> quoted(Seq(catalog, schema, volume))))

  /** Names as Unity Catalog compares them (lower case); None for a part no record can have. */
  private def normalize(part: String): Option[String] = {
    val p = part.toLowerCase(Locale.ROOT)
    if (p.isEmpty || p.startsWith(".") || p.contains("\\") || p.contains("\u0000")) None else Some(p)
  }

  def recordFile(store: String, catalog: String, schema: String, volume: String): JPath =
    Paths.get(store, catalog, schema, Folder, volume + ".json")

  /** The record of volume `catalog.schema.volume`, read fresh from the store (one stat when cached). */
  def lookup(store: String, catalog: String, schema: String, volume: String): Option[VolumeRecord] = {
    val names = Seq(catalog, schema, volume).flatMap(normalize)
    if (names.length != 3) return None
    val file = recordFile(store, names(0), names(1), names(2))
    val attrs = try Files.readAttributes(file, classOf[BasicFileAttributes]) catch {
      case _: NoSuchFileException => cache.remove(file); return None
    }
    val key = Option(attrs.fileKey()).getOrElse(attrs.size())
    val modified = attrs.lastModifiedTime().toMillis
    val hit = cache.get(file)
    if (hit != null && hit.key == key && hit.modified == modified) return Some(hit.record)
    val node = try Mapper.readTree(Files.readAllBytes(file)) catch {
      case _: NoSuchFileException => cache.remove(file); return None // dropped between the stat and the read
    }
    def text(field: String): Option[String] = Option(node.get(field)).filterNot(_.isNull).map(_.asText())
    val record = VolumeRecord(names(0), names(1), names(2), text("volume_type").getOrElse("MANAGED"), text("owner"))
    cache.put(file, Cached(key, modified, record))
    Some(record)
  }

  /** The volume's record, or UC_VOLUME_NOT_FOUND. */
  def require(store: String, catalog: String, schema: String, volume: String): VolumeRecord =
    lookup(store, catalog, schema, volume).getOrElse(throw notFound(catalog, schema, volume))
}

/** READ VOLUME / WRITE VOLUME, decided by the catalog jar's governance
  * (`io.lakeloom.catalog.volumes.VolumeAuthorization.checkFiles`), reached by reflection through
  * the thread's context class loader: Spark loads `spark.jars` there, while this jar sits on the
  * driver's class path below it. A thread whose loader cannot see the catalog jar (no catalog on
  * this JVM) has nothing to enforce. */
object VolumeAuthorizer {
  val ClassName = "io.lakeloom.catalog.volumes.VolumeAuthorization"
  // Per loader: the method, or when the class was last missing (jars can join a loader later).
  private val methods = java.util.Collections.synchronizedMap(
    new java.util.WeakHashMap[ClassLoader, Either[Long, java.lang.reflect.Method]]())

  private def method(): Option[java.lang.reflect.Method] = {
    val loader = Option(Thread.currentThread().getContextClassLoader).getOrElse(getClass.getClassLoader)
    Option(methods.get(loader)) match {
      case Some(Right(m)) => Some(m)
      case Some(Left(missingAt)) if System.currentTimeMillis() - missingAt < 5000 => None
      case _ =>
        val found = try Some(Class.forName(ClassName, true, loader).getMethod("checkFiles",
          classOf[String], classOf[String], classOf[String], java.lang.Boolean.TYPE))
        catch { case _: ClassNotFoundException | _: NoClassDefFoundError => None }
        methods.put(loader, found.toRight(System.currentTimeMillis()))
        found
    }
  }

  def check(record: VolumeRecord, write: Boolean): Unit = method().foreach { m =>
    try m.invoke(null, record.catalog, record.schema, record.name, java.lang.Boolean.valueOf(write))
    catch { case e: java.lang.reflect.InvocationTargetException => throw e.getCause }
  }
}
