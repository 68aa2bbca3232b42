// Unity Catalog securables and privileges, as lakeloom stores and checks them.
package io.lakeloom.catalog.authz

import java.util.Locale

/** A securable: `kind` is CATALOG, SCHEMA, TABLE (views too), VOLUME, FUNCTION or REGISTERED_MODEL. */
case class Securable(kind: String, parts: Seq[String]) {
  val fullName: String = parts.mkString(".")
  /** The key of its grants in grants.json: "TABLE main.sales.orders". */
  val key: String = s"$kind $fullName"

  def catalog: String = parts.head

  /** Catalog, then schema, that contain this securable (nearest last). */
  def ancestors: Seq[Securable] = kind match {
    case "CATALOG" => Seq.empty
    case "SCHEMA" => Seq(Securable.catalog(parts.head))
    case _ => Seq(Securable.catalog(parts.head), Securable.schema(parts.head, parts(1)))
  }

  /** How Databricks names the kind in error messages: Catalog, Schema, Table, Volume, Function. */
  def label: String = kind match {
    case "REGISTERED_MODEL" => "Registered Model"
    case k => k.head + k.tail.toLowerCase(Locale.ROOT)
  }

  def describe: String = s"$label '$fullName'"
}

object Securable {
  val Kinds: Seq[String] = Seq("CATALOG", "SCHEMA", "TABLE", "VOLUME", "FUNCTION", "REGISTERED_MODEL")
  private val Depth = Map("CATALOG" -> 1, "SCHEMA" -> 2)

  def catalog(c: String): Securable = Securable("CATALOG", Seq(c))
  def schema(c: String, s: String): Securable = Securable("SCHEMA", Seq(c, s))
  def table(c: String, s: String, t: String): Securable = Securable("TABLE", Seq(c, s, t))

  /** A securable from its kind and lower-cased name parts; throws on a wrong number of parts. */
  def of(kind: String, parts: Seq[String]): Securable = {
    val k = normalizeKind(kind)
    val want = Depth.getOrElse(k, 3)
    if (parts.length != want) {
      throw new IllegalArgumentException(s"$k ${parts.mkString(".")}: expected a name of $want part(s)")
    }
    Securable(k, parts.map(_.toLowerCase(Locale.ROOT)))
  }

  def normalizeKind(kind: String): String = kind.trim.toUpperCase(Locale.ROOT).replace(' ', '_') match {
    case "DATABASE" => "SCHEMA"
    case "VIEW" | "MATERIALIZED_VIEW" | "STREAMING_TABLE" => "TABLE"
    case "MODEL" => "REGISTERED_MODEL"
    case k if Kinds.contains(k) => k
    case k => throw new IllegalArgumentException(s"unknown securable type '$kind' (one of ${Kinds.mkString(", ")})")
  }
}

object Privileges {
  val UseCatalog = "USE_CATALOG"
  val UseSchema = "USE_SCHEMA"
  val Select = "SELECT"
  val Modify = "MODIFY"
  val Manage = "MANAGE"
  val All = "ALL_PRIVILEGES"

  private val Containers = Seq("USE_SCHEMA", "CREATE_TABLE", "CREATE_VOLUME", "CREATE_FUNCTION", "CREATE_MODEL",
    "SELECT", "MODIFY", "READ_VOLUME", "WRITE_VOLUME", "EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES")

  /** The privileges that can be granted on each kind of securable (container grants cover children). */
  val Applicable: Map[String, Set[String]] = Map(
    "CATALOG" -> (Containers ++ Seq("USE_CATALOG", "CREATE_SCHEMA")).toSet,
    "SCHEMA" -> Containers.toSet,
    "TABLE" -> Set("SELECT", "MODIFY", "MANAGE", "BROWSE", "ALL_PRIVILEGES"),
    "VOLUME" -> Set("READ_VOLUME", "WRITE_VOLUME", "MANAGE", "BROWSE", "ALL_PRIVILEGES"),
    "FUNCTION" -> Set("EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES"),
    "REGISTERED_MODEL" -> Set("EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES"))

  /** "USE CATALOG", "use_catalog" or "ALL PRIVILEGES" -> the stored form (USE_CATALOG, ALL_PRIVILEGES). */
  def normalize(privilege: String): String = {
    val p = privilege.trim.toUpperCase(Locale.ROOT).replaceAll("[\\s_]+", "_")
    val known = Applicable.values.flatten.toSet
    if (!known(p)) throw new IllegalArgumentException(s"unknown privilege '$privilege'")
    p
  }

  /** As Databricks writes it in messages and SHOW GRANTS: "USE CATALOG", "ALL PRIVILEGES". */
  def display(privilege: String): String = privilege.replace('_', ' ')
}
