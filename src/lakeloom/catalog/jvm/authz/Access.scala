// Privilege decisions: who holds what on a securable, and Databricks' denial error.
//
// A principal holds privilege P on securable S when it is a metastore admin, owns S (directly or
// through a group), or P or ALL PRIVILEGES is granted to it or one of its groups on S or on the
// schema or catalog containing S (container grants cover current and future children). MANAGE
// is also held by the owners of S's containers. Ownership is not inherited. Objects without a
// recorded owner (made before governance) belong to the admins. Using anything in a catalog
// needs USE CATALOG on it, and USE SCHEMA on the schema, unless the principal owns them.
package io.lakeloom.catalog.authz

import java.nio.file.Path

import org.apache.spark.sql.AnalysisException

/** `[INSUFFICIENT_PERMISSIONS] ...` as Databricks raises it; Python sees a pyspark AnalysisException. */
class AccessDeniedException(message: String, val errorClassName: String, val sqlStateCode: String)
    extends AnalysisException(message, None, None, None, Some(errorClassName), Map.empty[String, String],
      Array.empty[org.apache.spark.QueryContext]) {
  override def getSqlState: String = sqlStateCode
  override def getMessage: String = message
  override def getCondition: String = errorClassName
}

object AccessDeniedException {
  def insufficient(user: String, privilege: String, s: Securable): AccessDeniedException =
    new AccessDeniedException(
      s"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have ${Privileges.display(privilege)} on " +
        s"${s.describe}. SQLSTATE: 42501", "INSUFFICIENT_PERMISSIONS", "42501")
}

class Access(val dir: Path) {
  val grants = new GrantStore(dir)
  import Access.statementMemo

  /** The recorded owner of `s`, or None (then the admins own it). */
  def ownerOf(s: Securable): Option[String] = s.kind match {
    case "CATALOG" | "SCHEMA" | "TABLE" | "VOLUME" | "FUNCTION" => Owners.fromMetadata(dir, s).orElse(snapshot.owners.get(s.key))
    case _ => snapshot.owners.get(s.key)
  }

  /** The grant store as the running statement's check sees it (read once per statement). */
  private def snapshot: GrantSnapshot = statementMemo.get match {
    case null => grants.snapshot
    case m => m.snapshot.getOrElse { val g = grants.snapshot; m.snapshot = Some(g); g }
  }

  def isOwner(user: String, s: Securable): Boolean = ownerOf(s) match {
    case Some(owner) => owner == user || principals(user).contains(owner)
    case None => admin(user)
  }

  // Within one statement's check (Access.statement) the identity file is read once.
  private def admin(user: String): Boolean = statementMemo.get match {
    case null => Identity.isAdmin(user)
    case m => m.admins.getOrElseUpdate(user, Identity.isAdmin(user, m.identity))
  }

  private def principals(user: String): Set[String] = statementMemo.get match {
    case null => Identity.principalsOf(user)
    case m => m.principals.getOrElseUpdate(user, Identity.principalsOf(user, m.identity))
  }

  private def granted(principals: Set[String], snap: GrantSnapshot, privilege: String, s: Securable): Boolean = {
    val perPrincipal = snap.on(s)
    perPrincipal.nonEmpty && principals.exists(p => perPrincipal.get(p).exists(ps => ps(privilege) || ps(Privileges.All)))
  }

  /** Whether `user` holds `privilege` on `s` itself (not counting the USE privileges on its parents). */
  def holds(user: String, privilege: String, s: Securable): Boolean = statementMemo.get match {
    case null => decide(user, privilege, s, grants.snapshot)
    case m => m.decisions.getOrElseUpdate((user, privilege, s), decide(user, privilege, s, snapshot))
  }

  private def decide(user: String, privilege: String, s: Securable, snap: GrantSnapshot): Boolean = {
    if (admin(user)) return true
    // Grants first: they are in the statement's snapshot, while ownership costs a metadata file stat.
    val principals = this.principals(user)
    val inherits = privilege != Privileges.UseCatalog
    if (granted(principals, snap, privilege, s)) return true
    if (inherits && s.ancestors.exists(a => granted(principals, snap, privilege, a))) return true
    if (isOwner(user, s)) return true
    privilege == Privileges.Manage && s.ancestors.exists(a => isOwner(user, a))
  }

  /** USE CATALOG and USE SCHEMA on the containers of `s`; throws for the first one missing. */
  def requireUse(user: String, s: Securable): Unit = s.ancestors.foreach { a =>
    val use = if (a.kind == "CATALOG") Privileges.UseCatalog else Privileges.UseSchema
    if (!holds(user, use, a)) throw AccessDeniedException.insufficient(user, use, a)
  }

  /** Throw Databricks' INSUFFICIENT_PERMISSIONS error unless `user` may use `privilege` on `s`. */
  def require(user: String, privilege: String, s: Securable): Unit = {
    requireUse(user, s)
    if (!holds(user, privilege, s)) throw AccessDeniedException.insufficient(user, privilege, s)
  }

  /** Every privilege `user` holds on `s` (owners and admins: ALL_PRIVILEGES). */
  def effective(user: String, s: Securable): Set[String] =
    if (admin(user) || isOwner(user, s)) Set(Privileges.All)
    else Privileges.Applicable(s.kind).filter(p => p != Privileges.All && holds(user, p, s))
}

object Access {
  private val instances = new java.util.concurrent.ConcurrentHashMap[Path, Access]()
  def apply(dir: Path): Access = instances.computeIfAbsent(dir, d => new Access(d))

  /** One statement's view: the grant store and identity read once, each decision taken once. */
  private final class StatementMemo {
    var snapshot: Option[GrantSnapshot] = None
    lazy val identity: IdentitySettings = Identity.settings
    val admins = scala.collection.mutable.HashMap.empty[String, Boolean]
    val principals = scala.collection.mutable.HashMap.empty[String, Set[String]]
    val decisions = scala.collection.mutable.HashMap.empty[(String, String, Securable), Boolean]
  }
  private val statementMemo = new ThreadLocal[StatementMemo]()

  /**
   * Run the checks of one statement in `body` against one reading of the grant store and the
   * identity file (each stat-checked once instead of once per decision). A grant or revoke made
   * meanwhile applies from the next statement on, as Unity Catalog promises.
   */
  def statement[T](body: => T): T =
    if (statementMemo.get != null) body
    else {
      statementMemo.set(new StatementMemo)
      try body finally statementMemo.remove()
    }

  /** The Access of the active session's workspace, when governance is on. */
  def current: Option[Access] = if (!Identity.enabled) None else Identity.governanceDir.map(apply)
}

/** Owners recorded in the catalog's metadata files (LakeloomStore's, LakeloomVolumes' and CatalogFunctions' layout). */
object Owners {
  def metadataFile(dir: Path, s: Securable): Option[Path] = s.parts match {
    case Seq(c) if s.kind == "CATALOG" => Some(dir.resolve(c).resolve("catalog.json"))
    case Seq(c, sc) if s.kind == "SCHEMA" => Some(dir.resolve(c).resolve(sc).resolve("schema.json"))
    case Seq(c, sc, t) if s.kind == "TABLE" => Some(dir.resolve(c).resolve(sc).resolve("tables").resolve(t + ".json"))
    case Seq(c, sc, v) if s.kind == "VOLUME" => Some(dir.resolve(c).resolve(sc).resolve("volumes").resolve(v + ".json"))
    case Seq(c, sc, f) if s.kind == "FUNCTION" => Some(dir.resolve(c).resolve(sc).resolve("functions").resolve(f + ".json"))
    case _ => None
  }

  def fromMetadata(dir: Path, s: Securable): Option[String] =
    metadataFile(dir, s).flatMap(f => JsonFiles.cached(f)(n => JsonFiles.text(n, "owner")).flatten)

  def exists(dir: Path, s: Securable): Boolean = metadataFile(dir, s).exists(java.nio.file.Files.exists(_))

  /** Record `owner` in the metadata file of a catalog, schema, table or view. */
  def setInMetadata(dir: Path, s: Securable, owner: String): Boolean = metadataFile(dir, s) match {
    case Some(f) => JsonFiles.read(f) match {
      case Some(node) =>
        node.put("owner", owner)
        node.put("updated_at", System.currentTimeMillis())
        JsonFiles.write(f, node)
        true
      case None => false
    }
    case None => false
  }
}
