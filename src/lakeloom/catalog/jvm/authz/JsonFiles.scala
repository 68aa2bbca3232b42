// Small JSON files read on every check but parsed only when they change: a file's identity
// (inode) and modification time are compared on each call. Writers always publish a new file by
// atomic rename, so a change always shows as a new inode, in this process and in every other.
package io.lakeloom.catalog.authz

import java.nio.file.{Files, NoSuchFileException, Path, StandardCopyOption}
import java.nio.file.attribute.BasicFileAttributes
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper, SerializationFeature}
import com.fasterxml.jackson.databind.node.ObjectNode

object JsonFiles {
  val Mapper: ObjectMapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)

  private case class Entry(key: AnyRef, modified: Long, value: Any)
  private val cache = new ConcurrentHashMap[(Path, AnyRef), Entry]()

  private def stamp(path: Path): Option[(AnyRef, Long)] =
    try {
      val a = Files.readAttributes(path, classOf[BasicFileAttributes])
      Some((Option(a.fileKey()).getOrElse(""), a.lastModifiedTime().toMillis * 1000000L + a.size()))
    } catch { case _: NoSuchFileException => None }

  /** `parse` of the JSON at `path` (None if there is none), re-parsed only after the file changed. */
  def cached[T](path: Path)(parse: ObjectNode => T): Option[T] = {
    val tag = parse.getClass
    stamp(path) match {
      case None => cache.remove((path, tag)); None
      case Some((key, modified)) =>
        val hit = cache.get((path, tag))
        if (hit != null && hit.key == key && hit.modified == modified) Some(hit.value.asInstanceOf[T])
        else read(path).map { node =>
          val value = parse(node)
          cache.put((path, tag), Entry(key, modified, value))
          value
        }
    }
  }

  def read(path: Path): Option[ObjectNode] =
    try Some(Mapper.readTree(Files.readAllBytes(path)).asInstanceOf[ObjectNode])
    catch { case _: NoSuchFileException => None }

  /** Publish `node` at `path` atomically (temp file + rename). */
  def write(path: Path, node: JsonNode): Unit = {
    Files.createDirectories(path.getParent)
    val tmp = path.resolveSibling(s".${path.getFileName}.${UUID.randomUUID()}.tmp")
    Files.write(tmp, Mapper.writeValueAsBytes(node))
    try Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
    finally Files.deleteIfExists(tmp)
  }

  def text(node: JsonNode, field: String): Option[String] =
    Option(node.get(field)).filterNot(_.isNull).map(_.asText()).filter(_.nonEmpty)
}
