// The `system` catalog governed as Unity Catalog governs it: its schemas and tables belong to
// the metastore admins (no recorded owner), everyone holds USE CATALOG on the catalog (Databricks
// grants it to `account users`), and reading a system table takes USE SCHEMA on its schema and
// SELECT on the table, which only an admin can grant. The catalog is read-only, so only the read
// privileges can be granted on it.
package io.lakeloom.catalog.authz

import java.util.Locale

import org.apache.spark.sql.internal.SQLConf

import io.lakeloom.system.SystemCatalog

object SystemSecurables {
  val CatalogClass = "io.lakeloom.system.SystemCatalog"

  /** Grants every workspace has without a line in grants.json: USE CATALOG on `system` for everyone. */
  val BuiltinGrants: Map[String, Map[String, Set[String]]] =
    Map("CATALOG system" -> Map("account users" -> Set(Privileges.UseCatalog)))

  /** The privileges that can be granted on the read-only system catalog, its schemas and tables. */
  val Grantable: Set[String] = Set(Privileges.UseCatalog, Privileges.UseSchema, Privileges.Select, "BROWSE",
    Privileges.All)

  /** Whether `catalog` is a system catalog of the session (spark.sql.catalog.<name> is the SystemCatalog). */
  def isSystemCatalog(catalog: String): Boolean =
    SQLConf.get.getConfString(s"spark.sql.catalog.$catalog", "") == CatalogClass

  def isSystem(s: Securable): Boolean = isSystemCatalog(s.catalog)

  /** Whether the system schema or table named by `s` exists (the catalog itself always does). */
  def exists(s: Securable): Boolean = s.parts match {
    case Seq(_) => true
    case Seq(_, schema) => SystemCatalog.Tables.contains(schema)
    case Seq(_, schema, table) => SystemCatalog.Tables.get(schema).exists(_.contains(table))
    case _ => false
  }

  /** What can be granted on `s`: the usual privileges, cut to the read ones inside `system`. */
  def applicable(s: Securable): Set[String] =
    if (isSystem(s)) Privileges.Applicable(s.kind).intersect(Grantable) else Privileges.Applicable(s.kind)

  /** The securable of a table read from a system catalog (a V2 relation's catalog and identifier). */
  def table(catalog: Option[org.apache.spark.sql.connector.catalog.CatalogPlugin],
            ident: Option[org.apache.spark.sql.connector.catalog.Identifier]): Option[Securable] =
    (catalog, ident) match {
      case (Some(c), Some(i)) if c.getClass.getName == CatalogClass && i.namespace().length == 1 =>
        Some(Securable.table(lower(c.name()), lower(i.namespace().head), lower(i.name())))
      case _ => None
    }

  /** `grants` with the built-in grants added (a file's grants on the same securable are kept). */
  def withBuiltins(grants: Map[String, Map[String, Set[String]]]): Map[String, Map[String, Set[String]]] =
    BuiltinGrants.foldLeft(grants) { case (acc, (key, perPrincipal)) =>
      val current = acc.getOrElse(key, Map.empty)
      acc.updated(key, perPrincipal.foldLeft(current) { case (m, (p, privs)) =>
        m.updated(p, m.getOrElse(p, Set.empty) ++ privs)
      })
    }

  private def lower(s: String) = s.toLowerCase(Locale.ROOT)
}
