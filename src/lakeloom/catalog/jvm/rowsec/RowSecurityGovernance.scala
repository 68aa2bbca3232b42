// Who is acting, and the privilege checks of row security statements, as Unity Catalog makes
// them (denials are Databricks' INSUFFICIENT_PERMISSIONS error, every decision is audited):
//   CREATE FUNCTION            USE CATALOG, USE SCHEMA and CREATE FUNCTION on the schema
//                              (replacing one also needs MANAGE on it: owners hold it)
//   DROP FUNCTION              MANAGE on the function (its owner, a parent's owner, or granted)
//   calling a catalog function EXECUTE on it (with USE CATALOG / USE SCHEMA on its parents)
//   SET/DROP ROW FILTER, MASK  MANAGE on the table (owners hold it) and EXECUTE on the function
//   CREATE TABLE ... WITH ...  EXECUTE on each function (the creator owns the new table)
// Identity and grants belong to the governance module (io.lakeloom.catalog.authz); this is the
// one place row security asks them.
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.connector.catalog.Identifier

import io.lakeloom.catalog.authz.{Access, AccessDeniedException, Audit, Identity, Privileges, Securable}

object RowSecurityGovernance {
  private val Execute = "EXECUTE"
  private val CreateFunction = "CREATE_FUNCTION"

  /** The principal a statement runs as (the run's principal, else the OS user): who owns what it creates. */
  def currentPrincipal(spark: SparkSession): String = Identity.currentUser()

  def functionSecurable(catalog: String, ident: Identifier): Securable = Securable("FUNCTION",
    Seq(catalog, ident.namespace().head, ident.name()).map(_.toLowerCase(Locale.ROOT)))

  private def functionSecurable(f: StoredFunction): Securable = Securable("FUNCTION", f.nameParts)

  private def tableSecurable(t: PolicyTable): Securable = Securable.table(t.catalogName,
    t.ident.namespace().head.toLowerCase(Locale.ROOT), t.ident.name().toLowerCase(Locale.ROOT))

  /** Check every (privilege, securable) in order, audit the outcome under `action`, throw on the first denial. */
  private def require(action: String, params: Map[String, String], needs: Seq[(String, Securable)]): Unit =
    Access.current.foreach { access =>
      val user = Identity.currentUser()
      try needs.foreach { case (privilege, s) => access.require(user, privilege, s) }
      catch {
        case e: AccessDeniedException =>
          Audit.log(access.dir, action, user, params, 403, Some(e.getMessage), immediate = true)
          throw e
      }
      Audit.log(access.dir, action, user, params, 200)
    }

  /** CREATE [OR REPLACE] FUNCTION: CREATE FUNCTION on the schema (and MANAGE on the one replaced). */
  def checkCreateFunction(spark: SparkSession, catalog: String, ident: Identifier, replacing: Boolean): Unit = {
    val f = functionSecurable(catalog, ident)
    val schema = Securable.schema(f.parts.head, f.parts(1))
    val needs = Seq(Privileges.UseSchema -> schema, CreateFunction -> schema) ++
      (if (replacing) Seq(Privileges.Manage -> f) else Nil)
    require("createFunction", Map("full_name_arg" -> f.fullName, "privilege" -> CreateFunction), needs)
  }

  /** DROP FUNCTION: MANAGE on the function. */
  def checkManageFunction(spark: SparkSession, catalog: String, ident: Identifier): Unit = {
    val f = functionSecurable(catalog, ident)
    require("deleteFunction", Map("full_name_arg" -> f.fullName, "privilege" -> Privileges.Manage),
      Seq(Privileges.Manage -> f))
  }

  /** Setting (`f` given) or dropping (`f` null) a filter or mask: MANAGE on the table, EXECUTE on `f`. */
  def checkAssign(spark: SparkSession, table: PolicyTable, f: StoredFunction): Unit = {
    val t = tableSecurable(table)
    val params = Map("full_name_arg" -> t.fullName, "privilege" -> Privileges.Manage) ++
      Option(f).map(fn => "function_name" -> fn.fullName)
    require("updateTables", params, Seq(Privileges.Manage -> t) ++ Option(f).map(fn => Execute -> functionSecurable(fn)))
  }

  /** CREATE TABLE ... WITH ROW FILTER / MASK: EXECUTE on every function the new table's policies use. */
  def checkCreateWithPolicy(spark: SparkSession, table: Seq[String], functions: Seq[StoredFunction]): Unit =
    if (functions.nonEmpty) {
      require("createTable", Map("full_name_arg" -> table.mkString(".").toLowerCase(Locale.ROOT),
        "function_names" -> functions.map(_.fullName).distinct.mkString(",")),
        functions.distinct.map(fn => Execute -> functionSecurable(fn)))
    }

  /** A call of `f` written in a statement (not one inside a policy or another function's body). */
  def checkCall(f: StoredFunction): Unit = {
    val s = functionSecurable(f)
    require("executeFunction", Map("full_name_arg" -> s.fullName, "privilege" -> Execute), Seq(Execute -> s))
  }
}
