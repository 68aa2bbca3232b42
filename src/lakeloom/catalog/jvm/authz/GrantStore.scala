// The grant store: <store>/.governance/grants.json, shared by every process of a workspace.
//
//   {"format_version": 1,
//    "grants": {"TABLE main.sales.orders": {"alice": ["SELECT"], "analysts": ["MODIFY", "SELECT"]}},
//    "owners": {"VOLUME main.raw.landing": "alice"}}
//
// Keys are "<KIND> <lower-case full name>"; privileges are stored as Unity Catalog's API spells
// them (USE_CATALOG, ALL_PRIVILEGES). Owners of catalogs, schemas, tables and views live in their
// own metadata files (catalog.json, schema.json, tables/<name>.json, volumes/<name>.json, field "owner"); "owners"
// holds the others. Readers stat the file on every check (cached parse); writers take an fcntl
// lock on grants.json.lock (POSIX record lock: Python's fcntl.lockf and Java's FileChannel.lock
// exclude each other), read, change and publish by atomic rename.
package io.lakeloom.catalog.authz

import java.nio.file.Path

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

import io.lakeloom.catalog.FileLocks

case class GrantSnapshot(grants: Map[String, Map[String, Set[String]]], owners: Map[String, String]) {
  def on(s: Securable): Map[String, Set[String]] = grants.getOrElse(s.key, Map.empty)
}

class GrantStore(val dir: Path) {
  val file: Path = dir.resolve(".governance").resolve("grants.json")
  private val lockFile = dir.resolve(".governance").resolve("grants.json.lock")

  def snapshot: GrantSnapshot = JsonFiles.cached(file)(GrantStore.parse).getOrElse(GrantStore.Empty)

  /** Change the grants under the store's lock; `change` gets the current file and edits it in place. */
  def update(change: ObjectNode => Unit): Unit = GrantStore.synchronized {
    FileLocks.withFileLock(lockFile) {
      val node = JsonFiles.read(file).getOrElse {
        val n = JsonFiles.Mapper.createObjectNode()
        n.put("format_version", 1)
        n
      }
      change(node)
      JsonFiles.write(file, node)
    }
  }

  def grant(s: Securable, principal: String, privileges: Seq[String]): Unit = update { node =>
    val perSecurable = node.`with`("grants").`with`(s.key)
    val current = Option(perSecurable.get(principal)).map(_.elements().asScala.map(_.asText()).toSet)
      .getOrElse(Set.empty)
    val arr = perSecurable.putArray(principal)
    (current ++ privileges).toSeq.sorted.foreach(arr.add)
  }

  def revoke(s: Securable, principal: String, privileges: Seq[String]): Unit = update { node =>
    val grants = node.`with`("grants")
    val perSecurable = grants.`with`(s.key)
    val current = Option(perSecurable.get(principal)).map(_.elements().asScala.map(_.asText()).toSet)
      .getOrElse(Set.empty)
    // Revoking ALL PRIVILEGES takes back everything granted to the principal on the securable.
    val left = if (privileges.contains(Privileges.All)) Set.empty[String] else current -- privileges
    if (left.isEmpty) perSecurable.remove(principal)
    else { val arr = perSecurable.putArray(principal); left.toSeq.sorted.foreach(arr.add) }
    if (perSecurable.isEmpty) grants.remove(s.key)
  }

  def setOwner(s: Securable, owner: String): Unit = update(_.`with`("owners").put(s.key, owner))

  /** Move the grants of `from` to `to` (a renamed table or view). */
  def rename(from: Securable, to: Securable): Unit = if (snapshot.grants.contains(from.key)) {
    update { node =>
      val grants = node.`with`("grants")
      Option(grants.remove(from.key)).foreach(g => grants.set[JsonNode](to.key, g))
    }
  }

  /** Drop every grant and owner recorded for `s` (the securable was dropped). */
  def forget(s: Securable): Unit = if (snapshot.grants.contains(s.key) || snapshot.owners.contains(s.key)) {
    update { node => node.`with`("grants").remove(s.key); node.`with`("owners").remove(s.key) }
  }
}

object GrantStore {
  /** No grants.json yet: only the built-in grants (USE CATALOG on `system` for everyone). */
  val Empty: GrantSnapshot = GrantSnapshot(SystemSecurables.withBuiltins(Map.empty), Map.empty)

  private[authz] def parse(node: ObjectNode): GrantSnapshot = {
    def obj(field: String): Seq[(String, JsonNode)] =
      Option(node.get(field)).filter(_.isObject).map(_.properties().asScala.map(e => e.getKey -> e.getValue).toSeq)
        .getOrElse(Seq.empty)
    val grants = obj("grants").map { case (key, perPrincipal) =>
      key -> perPrincipal.properties().asScala.map(e => e.getKey -> e.getValue.elements().asScala.map(_.asText()).toSet).toMap
    }.toMap
    GrantSnapshot(SystemSecurables.withBuiltins(grants), obj("owners").map { case (k, v) => k -> v.asText() }.toMap)
  }
}
