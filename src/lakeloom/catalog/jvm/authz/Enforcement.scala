// Enforcement: the check rule run on every analyzed plan, the checks behind the catalog's own
// operations (CREATE, DROP, ALTER), and path access to managed storage.
package io.lakeloom.catalog.authz

import java.nio.file.Path

import org.apache.spark.sql.lakeloom.authz.AuthzInternals
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.catalyst.trees.TreeNodeTag

/** The check rule: every table, view and managed path a statement touches, checked before it runs. */
class AuthorizationCheck(spark: SparkSession) extends (LogicalPlan => Unit) {
  // A view's body is analyzed (and checked) on its own first; it is checked with the plan that
  // reads the view instead, where its owner is known.
  override def apply(plan: LogicalPlan): Unit = Access.current.foreach(Enforcement.checkPlan(_, plan))
}

object Enforcement {
  /** Set on a plan node once its allowed decision was audited, so chained DataFrames audit it once. */
  private val Audited = TreeNodeTag[String]("lakeloom.authz.audited")

  def checkPlan(access: Access, plan: LogicalPlan): Unit = Access.statement(checkStatement(access, plan))

  private def checkStatement(access: Access, plan: LogicalPlan): Unit = {
    val user = Identity.currentUser()
    val internal = insideExecution
    val found = new PlanRequests(access.ownerOf, internal = internal)
    found.visit(plan, user)
    if (found.requests.isEmpty && found.paths.isEmpty || AuthzInternals.insideViewResolution) return
    // Inside a running statement, writes are the statement's own (CTAS writing its new table,
    // Delta rewriting files for MERGE); they were checked when the statement was analyzed.
    val checked = if (internal) found.requests.filter(_.privilege == Privileges.Select) else found.requests
    checked.foreach { r =>
      try access.require(r.user, r.privilege, r.securable)
      catch {
        case e: AccessDeniedException =>
          audit(access, user, r, 403, Some(e.getMessage), immediate = true)
          throw e
      }
    }
    checked.foreach { r =>
      if (!r.node.getTagValue(Audited).contains(r.user)) {
        r.node.setTagValue(Audited, r.user)
        audit(access, user, r, 200, None, immediate = false)
      }
    }
    if (found.paths.nonEmpty && !internal) found.paths.foreach(p => checkPath(access, user, p))
  }

  // Delta runs its own reads and writes of a table's files (MERGE's scans, OPTIMIZE, log replay)
  // inside the statement's SQL execution; a user's direct path access starts outside one (or
  // inside a foreachBatch function, which ExecutionScope counts as the user's).
  def insideExecution: Boolean = org.apache.spark.sql.lakeloom.authz.ExecutionScope.internal

  private def audit(access: Access, user: String, r: Request, status: Int, error: Option[String],
                    immediate: Boolean): Unit = {
    val operation = if (r.privilege == Privileges.Select) "READ" else "READ_WRITE"
    Audit.log(access.dir, "generateTemporaryTableCredential", user,
      Map("table_full_name" -> r.securable.fullName, "operation" -> operation, "privilege" -> r.privilege),
      status, error, runAs = Some(r.user).filter(_ != user), immediate = immediate)
  }

  // ---- catalog operations --------------------------------------------------------------------

  private val CatalogActions = Map(
    "CREATE_TABLE" -> "createTable", "CREATE_SCHEMA" -> "createSchema", "MANAGE" -> "updateTables",
    "MODIFY" -> "generateTemporaryTableCredential", "USE_SCHEMA" -> "listTables")

  /**
   * Called by LakeloomCatalog before each catalog operation. `securable` is catalog.schema.table
   * (or catalog.schema for listings, catalog for CREATE SCHEMA). SELECT is left to the check rule,
   * which knows whether the table is read through a view.
   */
  def authorizeCatalogOp(privilege: String, securable: Seq[String]): Unit = {
    if (privilege == Privileges.Select) return
    val access = Access.current.getOrElse(return)
    val user = Identity.currentUser()
    val parts = securable.map(_.toLowerCase(java.util.Locale.ROOT))
    val (target, needed) = (privilege, parts) match {
      case ("CREATE_SCHEMA", Seq(c)) => (Securable.catalog(c), Seq(Privileges.UseCatalog, "CREATE_SCHEMA"))
      case ("USE_SCHEMA", Seq(c, s)) => (Securable.schema(c, s), Seq(Privileges.UseSchema))
      case ("MANAGE", Seq(c, s)) => (Securable.schema(c, s), Seq(Privileges.Manage))
      case ("CREATE_TABLE", Seq(c, s, _)) => (Securable.schema(c, s), Seq(Privileges.UseSchema, "CREATE_TABLE"))
      // A missing table is Spark's to report (TABLE_OR_VIEW_NOT_FOUND), not a denial.
      case (p, Seq(c, s, t)) if Owners.exists(access.dir, Securable.table(c, s, t)) => (Securable.table(c, s, t), Seq(p))
      case _ => return
    }
    val params =
      if (privilege == Privileges.Modify) Map("table_full_name" -> parts.mkString("."), "operation" -> "READ_WRITE",
        "privilege" -> privilege)
      else Map("full_name_arg" -> parts.mkString("."), "privilege" -> privilege)
    val action = CatalogActions.getOrElse(privilege, "updateTables")
    try needed.foreach(access.require(user, _, target))
    catch {
      case e: AccessDeniedException =>
        Audit.log(access.dir, action, user, params, 403, Some(e.getMessage), immediate = true)
        throw e
    }
    if (privilege != "USE_SCHEMA") Audit.log(access.dir, action, user, params, 200)
  }

  /**
   * CREATE VOLUME (CREATE VOLUME + USE SCHEMA on the schema) and DROP VOLUME (MANAGE on the
   * volume), called by the volume commands before they change anything.
   */
  def authorizeVolumeOp(privilege: String, parts: Seq[String]): Unit = {
    val access = Access.current.getOrElse(return)
    val user = Identity.currentUser()
    val Seq(c, s, v) = parts.map(_.toLowerCase(java.util.Locale.ROOT))
    val (target, needed, action) =
      if (privilege == "CREATE_VOLUME") (Securable.schema(c, s), Seq(Privileges.UseSchema, "CREATE_VOLUME"), "createVolume")
      else (Securable.of("VOLUME", Seq(c, s, v)), Seq(Privileges.Manage), "deleteVolume")
    val params = Map("full_name_arg" -> s"$c.$s.$v", "privilege" -> privilege)
    try needed.foreach(access.require(user, _, target))
    catch {
      case e: AccessDeniedException =>
        Audit.log(access.dir, action, user, params, 403, Some(e.getMessage), immediate = true)
        throw e
    }
    Audit.log(access.dir, action, user, params, 200)
  }

  /** After a RENAME: the grants follow the table (`newIdent` as Spark passes it: 1 to 3 parts). */
  def renamed(oldParts: Seq[String], newIdent: org.apache.spark.sql.connector.catalog.Identifier): Unit =
    Access.current.foreach { access =>
      val Seq(c, s, _) = oldParts.map(_.toLowerCase(java.util.Locale.ROOT))
      val schema = newIdent.namespace().toSeq match {
        case Seq() => s
        case Seq(_, ns) => ns
        case ns => ns.last
      }
      access.grants.rename(Securable.table(c, s, oldParts.last.toLowerCase(java.util.Locale.ROOT)),
        Securable.table(c, schema.toLowerCase(java.util.Locale.ROOT), newIdent.name().toLowerCase(java.util.Locale.ROOT)))
    }

  /** After a DROP: a new object with the same name starts without the old one's grants. */
  def dropped(kind: String, parts: Seq[String]): Unit = Access.current.foreach { access =>
    access.grants.forget(Securable.of(kind, parts))
  }

  // ---- paths ---------------------------------------------------------------------------------

  /** `<warehouse>/<catalog>` of every lakeloom catalog: where managed tables keep their files. */
  def managedRoots: Seq[String] = AuthzInternals.staticConf.toSeq.flatMap { conf =>
    conf.getAll.collect {
      case (k, v) if k.startsWith("spark.sql.catalog.") && k.count(_ == '.') == 3 && v == PlanRequests.CatalogClass =>
        k.stripPrefix("spark.sql.catalog.")
    }.flatMap { c =>
      conf.getOption(s"spark.sql.catalog.$c.warehouse").map(w => PlanRequests.normalizePath(w) + "/" + c.toLowerCase)
    }
  }

  def checkPath(access: Access, user: String, p: PathAccess): Unit = {
    val path = PlanRequests.normalizePath(p.path)
    if (managedRoots.exists(root => path == root || path.startsWith(root + "/"))) {
      val msg = s"[INVALID_PARAMETER_VALUE.LOCATION_OVERLAP] Input path url '${p.path}' overlaps with managed " +
        "storage within 'CheckPathAccess' call. Managed tables are read and written by name. SQLSTATE: 42501"
      Audit.log(access.dir, "generateTemporaryPathCredential", user,
        Map("url" -> p.path, "operation" -> (if (p.write) "PATH_READ_WRITE" else "PATH_READ")), 403, Some(msg),
        immediate = true)
      throw new AccessDeniedException(msg, "INVALID_PARAMETER_VALUE.LOCATION_OVERLAP", "42501")
    }
  }
}
